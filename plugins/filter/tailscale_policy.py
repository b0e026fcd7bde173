# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.tailnet.llm.plugins.plugin_utils.tailscale_policy import tailscale_policy

DOCUMENTATION = r"""
name: tailscale_policy
short_description: The collection's part of the tailnet policy file, from the inventory's groups
description:
  - Returns the part of a Tailscale tailnet policy file that the collection owns, as a mapping with the policy
    file's own keys (C(tagOwners), C(grants), C(autoApprovers), C(tests)); the module
    M(tailnet.llm.tailscale_policy) merges it into the tailnet's policy file.
  - One tag per role, C(tag:llm-gateway) (C(llm_gateways)), C(tag:llm-model-host) (C(llm_model_hosts)),
    C(tag:llm-state-host) (C(llm_state_hosts)) and C(tag:llm-client) (C(llm_clients)), each owned by O(tag_owners).
    These tags are the collection's namespace in the policy file.
  - Clients reach the gateways' C(litellm_port) (TCP) only; gateways reach the model hosts' vLLM ports (the ports
    of their local C(vllm_backends)) and the state host's Redis (C(state_store_redis_port)) and PostgreSQL (5432)
    ports only; O(operators) reach SSH (TCP 22) on every host of these groups.
  - Routes a host lists in C(tailscale_advertise_routes) and exit nodes (C(tailscale_advertise_exit_node=true))
    are auto-approved for the advertising host's tags.
  - The part carries C(tests) generated from the same facts, so Tailscale refuses a policy file that breaks them
    (for instance an allow-all rule). A deny case is only written for a port no host of that tag is meant to
    answer on through any of its tags. Operators that are autogroups get no test (an autogroup cannot be a
    test's source).
  - Fails naming the variable (and host) when an input is wrong.
extends_documentation_fragment:
  - tailnet.llm.inventory.hostvars
options:
  _input:
    description: The inventory's groups (C(groups)).
    type: dict
    required: true
  tag_owners:
    description: Who may tag devices with the collection's tags (users, C(group:NAME), C(autogroup:NAME), C(tag:NAME)).
    type: list
    elements: str
    required: true
  operators:
    description: Who reaches SSH on every host (users, C(group:NAME), C(autogroup:NAME)).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
# group_vars/all: the policy the tailnet.llm.tailscale_policy module applies.
tailscale_policy: >-
  {{ groups | tailnet.llm.tailscale_policy(hostvars, tag_owners=tailscale_policy_tag_owners,
                                           operators=tailscale_policy_operators) }}
"""

RETURN = r"""
_value:
  description: The collection's part of the policy file (C(tagOwners), C(grants), C(autoApprovers) when routes or
    exit nodes are declared, C(tests)).
  type: dict
"""


def _tailscale_policy(groups, hostvars, tag_owners=None, operators=None):
    try:
        return tailscale_policy(groups, hostvars, tag_owners, operators)
    except ValueError as e:
        raise AnsibleFilterError(f"tailscale_policy: {e}") from e


class FilterModule:
    def filters(self):
        return {"tailscale_policy": _tailscale_policy}
