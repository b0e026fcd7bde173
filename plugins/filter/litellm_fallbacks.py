# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible_collections.tailnet.llm.plugins.plugin_utils.backends import litellm_fallbacks

DOCUMENTATION = r"""
name: litellm_fallbacks
short_description: The gateway's fallback chains from the models' own fallbacks
description:
  - Returns LiteLLM's C(router_settings.fallbacks), one mapping of an alias to the aliases it falls back to per
    model of C(litellm_extra_models) that lists C(fallbacks), in inventory order. C(default) falls back as the model it
    routes to does.
  - When a model's deployment fails (after its retries), LiteLLM tries each fallback in turn.
    C(tailnet.llm.backend_problems) checks the chains first.
options:
  _input:
    description: The further models, in the shape of C(litellm_extra_models).
    type: list
    elements: dict
    required: true
  backends:
    description: The vLLM backends, in the shape of C(vllm_backends) (for the model C(default) routes as).
    type: list
    elements: dict
    default: []
  default_model:
    description: The alias C(default) routes as; empty means the first model.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: The fallback chains
  ansible.builtin.debug:
    msg: "{{ litellm_extra_models | tailnet.llm.litellm_fallbacks(litellm_backends, litellm_default_model) }}"
"""

RETURN = r"""
_value:
  description: One single-key mapping per model with fallbacks, alias to the aliases it falls back to.
  type: list
  elements: dict
"""


class FilterModule:
    def filters(self):
        return {"litellm_fallbacks": litellm_fallbacks}
