# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible_collections.tailnet.llm.plugins.plugin_utils.firewall import rich_rules

DOCUMENTATION = r"""
name: firewalld_rich_rules
short_description: The firewalld rich rules that open ports to some source ranges only
description:
  - Returns one rich rule per source range and port, accepting that port from that range, IPv4 or IPv6 by
    the range, in the form firewalld normalizes rules to.
options:
  _input:
    description: Source ranges (CIDR), IPv4 or IPv6.
    type: list
    elements: str
    required: true
  ports:
    description: Ports as C(PORT/PROTO) or C(LOW-HIGH/PROTO).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Accept the gateway's port from the tailnet only
  ansible.posix.firewalld:
    zone: public
    rich_rule: "{{ item }}"
    state: enabled
    permanent: true
    immediate: true
  loop: "{{ ['100.64.0.0/10', 'fd7a:115c:a1e0::/48'] | tailnet.llm.firewalld_rich_rules(['4000/tcp']) }}"
"""

RETURN = r"""
_value:
  description:
    - The rich rules, e.g.
      C(rule family="ipv4" source address="100.64.0.0/10" port port="4000" protocol="tcp" accept).
  type: list
  elements: str
"""


class FilterModule:
    def filters(self):
        return {"firewalld_rich_rules": rich_rules}
