# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""firewalld rules derived from the inventory's source ranges and ports."""

from __future__ import annotations

import ipaddress


def rich_rules(sources, ports):
    """One rich rule per source range and port that accepts the port from that range, in firewalld's own
    normalized form (so that firewalld's query for it matches and a re-run changes nothing)."""
    rules = []
    for source in sources:
        family = f"ipv{ipaddress.ip_network(source, strict=False).version}"
        for port in ports:
            number, protocol = port.split("/")
            rules.append(
                f'rule family="{family}" source address="{source}" port port="{number}" protocol="{protocol}" accept'
            )
    return rules


# Tailscale's address ranges: where a tailnet's nodes have their addresses.
TAILNET_RANGES = ("100.64.0.0/10", "fd7a:115c:a1e0::/48")


def tailnet_addresses(hosts, hostvars, ranges=TAILNET_RANGES, family=None):
    """The addresses of HOSTS in RANGES (IPv4 and IPv6, or FAMILY 4 or 6 alone), from their network facts.

    A host without network facts raises LookupError naming it: the playbook gathers them first.
    """
    networks = [ipaddress.ip_network(r) for r in ranges]
    found = []
    for host in hosts:
        facts = hostvars[host].get("ansible_facts") or {}
        if "all_ipv4_addresses" not in facts:
            raise LookupError(f"host {host} has no network facts (gather_subset: network) to find its tailnet address")
        for text in [*facts.get("all_ipv4_addresses", []), *facts.get("all_ipv6_addresses", [])]:
            address = ipaddress.ip_address(text.split("%")[0])
            if (family is None or address.version == family) and any(address in n for n in networks):
                found.append(str(address))
    return found
