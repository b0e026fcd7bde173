"""firewalld on the gateways, seen from the other hosts, over IPv4 and IPv6.

Each client tries every address of every gateway. The gateway's port must answer exactly when the
client's own source address for that route lies in the tailnet's ranges; SSH must answer as it did
before the deploy (the lab records that in its prepare step), and from the tailnet in any case.
"""

import ipaddress
import json
import os
import pathlib

import helpers
import pytest
import testinfra

testinfra_hosts = ["ansible://llm_clients_linux", "ansible://lab_outsiders"]


def _gateways(host):
    inventory = host.backend.ansible_inventory
    names = helpers.inventory_vars(host)["groups"].get("llm_gateways", [])
    return [testinfra.get_host(f"ansible://{name}", ansible_inventory=inventory) for name in names]


def _routes(host):
    """(gateway settings, gateway address, this host's source address or None) for every gateway address."""
    routes = [
        (helpers.gateway_settings(gw), a, helpers.source_for(host, a))
        for gw in _gateways(host)
        for a in helpers.global_addresses(gw)
    ]
    assert routes, "no gateway address to try"
    return routes


def _in_tailnet(source, ranges):
    return source is not None and any(ipaddress.ip_address(source) in r for r in ranges)


def _ssh_answers(host, address):
    result = host.run("timeout 5 bash -c %s _ %s", "exec 3<>/dev/tcp/$1/22 && head -c 7 <&3", address)
    return result.stdout.startswith("SSH-2.0")


@pytest.mark.parametrize("family", [4, 6])
def test_gateway_port_answers_only_tailnet_sources(host, family):
    outcomes = []
    for gw, address, source in _routes(host):
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


def test_ssh_answers_as_before_the_deploy(host):
    """SSH on every gateway address answers from every host that reached it before; from the tailnet, always."""
    before_file = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
    before_file = before_file / f"ssh-before-{helpers.inventory_vars(host)['inventory_hostname']}.json"
    before = json.loads(before_file.read_text()) if before_file.exists() else {}
    outcomes = []
    for gw, address, source in _routes(host):
        expected = before.get(address, _in_tailnet(source, gw["sources"]))
        outcomes.append((address, source, expected, _ssh_answers(host, address)))
    wrong = [o for o in outcomes if o[2] and not o[3]]
    assert not wrong, "(address, source, answered before, answers now): " + repr(wrong)
    if before:
        assert {o[0] for o in outcomes} == set(before), "the gateways' addresses changed since the deploy began"
