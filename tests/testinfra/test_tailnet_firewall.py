"""firewalld on the gateways, model hosts and state host, seen from the other hosts, over IPv4 and IPv6.

Each client tries every address of every gateway, model host and state host. The gateway's port must answer
exactly when the client's own source address for that route lies in the tailnet's ranges; no vLLM port answers
a client (only gateways reach a model host's vLLM), nor Redis or PostgreSQL on the state host; SSH must answer
as it did before the deploy (the lab records that in its prepare step), and from the tailnet in any case.
"""

import ipaddress
import json
import os
import pathlib

import helpers
import pytest

testinfra_hosts = ["ansible://llm_clients_linux", "ansible://lab_outsiders"]


def _routes(host, groups=("llm_gateways",)):
    """(target host, its settings, its address, this host's source address or None) for every address of every
    host in GROUPS."""
    routes = [
        (target, helpers.gateway_settings(target), a, helpers.source_for(host, a))
        for target in helpers.group_hosts(host, *groups)
        for a in helpers.global_addresses(target)
    ]
    assert routes, f"no address of {groups} to try"
    return routes


def _in_tailnet(source, ranges):
    return source is not None and any(ipaddress.ip_address(source) in r for r in ranges)


def _ssh_answers(host, address):
    result = host.run("timeout 5 bash -c %s _ %s", "exec 3<>/dev/tcp/$1/22 && head -c 7 <&3", address)
    return result.stdout.startswith("SSH-2.0")


@pytest.mark.parametrize("family", [4, 6])
def test_gateway_port_answers_only_tailnet_sources(host, family):
    outcomes = []
    for _, gw, address, source in _routes(host):
        if ipaddress.ip_address(address).version != family:
            continue
        code = host.run(
            "curl -s -o /dev/null -w '%%{http_code}' --connect-timeout 3 --max-time 10 http://%s:%s/health/liveliness",
            helpers.url_host(address),
            str(gw["port"]),
        ).stdout
        outcomes.append((address, source, _in_tailnet(source, gw["sources"]), code == "200"))
    assert outcomes, f"no IPv{family} gateway address"
    wrong = [o for o in outcomes if o[2] != o[3]]
    assert not wrong, "(address, source, expected reachable, reachable): " + repr(wrong)


def test_no_vllm_port_answers_a_client(host):
    """vLLM's ports of every model host (and gateway serving backends), on every address, answer no client."""
    answered = []
    for target, _, address, _ in _routes(host, ("llm_model_hosts", "llm_gateways")):
        for backend in helpers.model_host_settings(target)["local_backends"]:
            result = host.run(
                "curl -s -o /dev/null -w '%%{http_code}' --connect-timeout 3 --max-time 10 http://%s:%s/health",
                helpers.url_host(address),
                str(backend["port"]),
            )
            if result.stdout not in ("", "000"):
                answered.append(f"{address}:{backend['port']} ({result.stdout})")
    assert not answered, f"vLLM answers this client on {answered}"


def test_no_state_host_port_answers_a_client(host):
    """Redis's and PostgreSQL's ports of the state host, on every address, accept no client's connection."""
    if not helpers.inventory_vars(host)["groups"].get("llm_state_hosts"):
        pytest.skip("the inventory has no state host")
    targets = []
    for target, _, address, _ in _routes(host, ("llm_state_hosts",)):
        settings = helpers.state_host_settings(target)
        targets += [(address, settings["redis_port"]), (address, settings["postgresql_port"])]
    assert targets
    answered = sorted(helpers.tcp_reached(host, targets))
    assert not answered, f"the state host accepts this client on {answered}"


def test_ssh_answers_as_before_the_deploy(host):
    """SSH on every gateway and model host address answers from every host that reached it before; from the
    tailnet, always."""
    before_file = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
    before_file = before_file / f"ssh-before-{helpers.inventory_vars(host)['inventory_hostname']}.json"
    before = json.loads(before_file.read_text()) if before_file.exists() else {}
    outcomes = []
    for _, gw, address, source in _routes(host, ("llm_gateways", "llm_model_hosts", "llm_state_hosts")):
        expected = before.get(address, _in_tailnet(source, gw["sources"]))
        outcomes.append((address, source, expected, _ssh_answers(host, address)))
    wrong = [o for o in outcomes if o[2] and not o[3]]
    assert not wrong, "(address, source, answered before, answers now): " + repr(wrong)
    if before:
        assert {o[0] for o in outcomes} == set(before), "the hosts' addresses changed since the deploy began"
