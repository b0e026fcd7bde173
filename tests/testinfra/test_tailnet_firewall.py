"""firewalld on the gateways, seen from the other hosts: only sources inside the tailnet reach the gateway.

Each client tries every address of every gateway. A connection must succeed exactly when the
client's own source address for that route lies in the tailnet's ranges.
"""

import ipaddress

import testinfra
from conftest import gateway_settings, inventory_vars

testinfra_hosts = ["ansible://llm_clients_linux", "ansible://lab_outsiders"]

TAILNET_DEFAULT = ["100.64.0.0/10", "fd7a:115c:a1e0::/48"]


def _gateways(host):
    inventory = host.backend.ansible_inventory
    names = inventory_vars(host)["groups"].get("llm_gateways", [])
    return [testinfra.get_host(f"ansible://{name}", ansible_inventory=inventory) for name in names]


def _addresses(gateway):
    out = gateway.check_output("ip -o -4 addr show scope global")
    return [line.split()[3].split("/")[0] for line in out.splitlines()]


def _source_for(host, address):
    result = host.run("ip -o route get %s", address)
    if result.rc != 0:
        return None
    words = result.stdout.split()
    return words[words.index("src") + 1] if "src" in words else None


def test_gateway_port_answers_only_tailnet_sources(host):
    outcomes = []
    for gateway in _gateways(host):
        gw = gateway_settings(gateway)
        ranges = [ipaddress.ip_network(r) for r in inventory_vars(gateway).get("firewalld_sources", TAILNET_DEFAULT)]
        for address in _addresses(gateway):
            source = _source_for(host, address)
            expected = source is not None and any(ipaddress.ip_address(source) in r for r in ranges)
            code = host.run(
                "curl -s -o /dev/null -w '%%{http_code}' --connect-timeout 3 --max-time 10 http://%s:%s/health/liveliness",
                address,
                str(gw["port"]),
            ).stdout
            outcomes.append((address, source, expected, code == "200"))
    assert outcomes, "no gateway address to try"
    wrong = [o for o in outcomes if o[2] != o[3]]
    assert not wrong, "(address, source, expected reachable, reachable): " + repr(wrong)
