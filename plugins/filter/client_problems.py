# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible_collections.tailnet.llm.plugins.plugin_utils.clients import client_problems

DOCUMENTATION = r"""
name: client_problems
short_description: What is wrong with a gateway's clients
description:
  - One sentence per problem, naming the entry of C(litellm_clients) - an entry without a key hash, a client that
    holds the master key, two clients that share a key. Empty when all is well.
options:
  _input:
    description: The gateway's clients (C(litellm_clients)).
    type: list
    elements: dict
    required: true
  master_key:
    description: The gateway's master key (compared by hash, never shown).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Check the clients
  ansible.builtin.fail:
    msg: "{{ litellm_clients | tailnet.llm.client_problems(litellm_env_secrets.LITELLM_MASTER_KEY) | join('; ') }}"
  when: litellm_clients | tailnet.llm.client_problems(litellm_env_secrets.LITELLM_MASTER_KEY) | length > 0
"""

RETURN = r"""
_value:
  description: The problems, each naming the entry.
  type: list
  elements: str
"""


class FilterModule:
    def filters(self):
        return {"client_problems": client_problems}
