# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible_collections.tailnet.llm.plugins.plugin_utils.backends import gateway_backends

DOCUMENTATION = r"""
name: gateway_backends
short_description: The backends a gateway routes to, from the inventory's model hosts
description:
  - Returns, in the shape of C(litellm_backends), the local backends (C(vllm_backends) on 127.0.0.1, localhost
    or ::1) of every host in the group C(llm_model_hosts), and the gateway's own C(vllm_backends).
  - The gateway's own list is taken as written (its local backends on loopback, and any other host's server
    written in by hand), unless gateways other than itself use it. Every other model host, and then the gateway
    too, is reached at its inventory name (its MagicDNS name on the tailnet), with the key in C(VLLM_API_KEY).
  - Adding a GPU box is adding it to C(llm_model_hosts) with its own C(vllm_backends); every gateway then
    routes to its models.
extends_documentation_fragment:
  - tailnet.llm.inventory.groups
  - tailnet.llm.inventory.hostvars
options:
  _input:
    description: The gateway's inventory name (C(inventory_hostname)).
    type: str
    required: true
  own:
    description:
      - The gateway's own C(vllm_backends) as the play sees them (play or role variables too); its inventory's
        (from O(hostvars)) when omitted.
    type: list
    elements: dict
"""

EXAMPLES = r"""
# roles/litellm/defaults/main.yml: every gateway routes to every model host.
litellm_backends: >-
  {{ inventory_hostname | tailnet.llm.gateway_backends(groups, hostvars, own=vllm_backends | default([])) }}
"""

RETURN = r"""
_value:
  description: Backends in the shape of C(litellm_backends); remote ones have C(api_key_env=VLLM_API_KEY).
  type: list
  elements: dict
"""


class FilterModule:
    def filters(self):
        return {"gateway_backends": gateway_backends}
