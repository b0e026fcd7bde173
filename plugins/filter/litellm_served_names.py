# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible_collections.tailnet.llm.plugins.plugin_utils.backends import served_names

DOCUMENTATION = r"""
name: litellm_served_names
short_description: The names a gateway serves by name
description:
  - Returns the sorted C(model_name)s of a C(model_list) (C(tailnet.llm.litellm_model_list)) without its wildcard
    routes (such as C(hab/*)), which answer for names the gateway cannot list.
options:
  _input:
    description: LiteLLM's C(model_list).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: The names to probe after a change
  ansible.builtin.debug:
    msg: >-
      {{ litellm_backends | tailnet.llm.litellm_model_list(litellm_extra_models)
         | tailnet.llm.litellm_served_names }}
"""

RETURN = r"""
_value:
  description: Model names, sorted, each once.
  type: list
  elements: str
"""


class FilterModule:
    def filters(self):
        return {"litellm_served_names": served_names}
