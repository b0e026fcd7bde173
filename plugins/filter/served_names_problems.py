# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible_collections.tailnet.llm.plugins.plugin_utils.backends import served_names_problems

DOCUMENTATION = r"""
name: served_names_problems
short_description: Whether a gateway lists the names its configuration serves
description:
  - Compares the names a gateway lists (its C(/v1/models)) with its C(model_list) and returns what does not match,
    one message per name. Every name the configuration serves must be listed, and every listed name must be a
    configured one or match a wildcard route.
  - For a wildcard route (e.g. C(hab/*) to C(ollama_chat/*)) LiteLLM lists the provider's models it knows of, not
    the ones the host serves; such names are accepted and not required.
options:
  _input:
    description: The names the gateway lists.
    type: list
    elements: str
    required: true
  model_list:
    description: LiteLLM's C(model_list) (C(tailnet.llm.litellm_model_list)).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Check what the gateway lists
  ansible.builtin.assert:
    that: __problems | length == 0
    fail_msg: "{{ __problems | join('; ') }}"
  vars:
    __problems: "{{ listed | tailnet.llm.served_names_problems(__litellm_model_list) }}"
"""

RETURN = r"""
_value:
  description: One message per missing or unexpected name; empty when the list matches.
  type: list
  elements: str
"""


class FilterModule:
    def filters(self):
        return {"served_names_problems": served_names_problems}
