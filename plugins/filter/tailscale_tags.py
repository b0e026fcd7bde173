# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible_collections.tailnet.llm.plugins.plugin_utils.tailscale_policy import host_tags

DOCUMENTATION = r"""
name: tailscale_tags
short_description: A host's Tailscale tags, one per role group it is in
description:
  - Returns the tags, without the C(tag:) prefix, of a host of the inventory, one per role group it is in
    (C(llm-gateway), C(llm-model-host), C(llm-state-host), C(llm-client)), the tags that the policy
    (P(tailnet.llm.tailscale_policy#filter)) gives access by, in the form artis3n.tailscale's C(tailscale_tags)
    wants.
extends_documentation_fragment:
  - tailnet.llm.inventory.groups
options:
  _input:
    description: The host's inventory name (C(inventory_hostname)).
    type: str
    required: true
"""

EXAMPLES = r"""
# Join a host with its role tags (artis3n.tailscale adds tag: to each).
tailscale_tags: "{{ inventory_hostname | tailnet.llm.tailscale_tags(groups) }}"
"""

RETURN = r"""
_value:
  description: The tags, without C(tag:); empty for a host in none of the role groups.
  type: list
  elements: str
"""


class FilterModule:
    def filters(self):
        return {"tailscale_tags": host_tags}
