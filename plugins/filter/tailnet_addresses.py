# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.tailnet.llm.plugins.plugin_utils.firewall import TAILNET_RANGES, tailnet_addresses

DOCUMENTATION = r"""
name: tailnet_addresses
short_description: The tailnet addresses of some hosts, from their network facts
description:
  - Returns every IPv4 and IPv6 address of the hosts that lies in the tailnet's ranges (Tailscale's
    C(100.64.0.0/10) and C(fd7a:115c:a1e0::/48) unless O(ranges) says otherwise), from their facts.
  - Fails naming the host when a host's network facts were not gathered (C(gather_subset=network)).
options:
  _input:
    description: Inventory names of the hosts.
    type: list
    elements: str
    required: true
  hostvars:
    description: Every host's variables (C(hostvars)).
    type: dict
    required: true
  ranges:
    description: The tailnet's ranges.
    type: list
    elements: str
    default: [100.64.0.0/10, fd7a:115c:a1e0::/48]
  family:
    description: Only IPv4 (C(4)) or only IPv6 (C(6)) addresses; all when omitted.
    type: int
"""

EXAMPLES = r"""
# The gateways other than this host may reach its vLLM servers.
vllm_gateway_sources: >-
  {{ groups['llm_gateways'] | difference([inventory_hostname]) | tailnet.llm.tailnet_addresses(hostvars) }}
"""

RETURN = r"""
_value:
  description: The addresses, without prefix length.
  type: list
  elements: str
"""


def _tailnet_addresses(hosts, hostvars, ranges=TAILNET_RANGES, family=None):
    try:
        return tailnet_addresses(hosts, hostvars, ranges=ranges, family=family)
    except LookupError as e:
        raise AnsibleFilterError(f"tailnet_addresses: {e}") from e


class FilterModule:
    def filters(self):
        return {"tailnet_addresses": _tailnet_addresses}
