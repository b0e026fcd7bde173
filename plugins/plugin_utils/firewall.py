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
