# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible_collections.tailnet.llm.plugins.plugin_utils.backends import litellm_model_list

DOCUMENTATION = r"""
name: litellm_model_list
short_description: The gateway's model_list from the backends and further models
description:
  - Returns LiteLLM's C(model_list). It has one entry per alias of the backends' models (routed to
    C(hosted_vllm/ID) at the backend's C(/v1)) and of the further models, and an entry C(default) routed
    as O(default_model) (or the first model) unless an alias is C(default) itself.
  - Keys are never values. A further model's C(api_key_env) becomes an C(os.environ/NAME) reference.
  - A further model whose alias has a C(*) is a wildcard route (e.g. C(hab/*) to C(ollama_chat/*) at hab's
    Ollama); C(default) never routes to one.
  - The names the gateway serves are this list's C(model_name)s.
extends_documentation_fragment:
  - tailnet.llm.backends
options:
  extra_models:
    description: Further models, in the shape of C(litellm_extra_models).
    type: list
    elements: dict
    default: []
  default_model:
    description: The alias C(default) routes as; empty means the first model.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: The names the gateway serves
  ansible.builtin.debug:
    msg: >-
      {{ litellm_backends | tailnet.llm.litellm_model_list(litellm_extra_models, litellm_default_model)
         | map(attribute='model_name') | sort }}
"""

RETURN = r"""
_value:
  description:
    - Entries with C(model_name), C(litellm_params) and C(model_info) where there is some.
    - A vLLM backend's C(model_info) has its model's C(input_cost_per_token) and C(output_cost_per_token) (0 unless
      the model's entry prices its tokens), and C(max_input_tokens) when known.
    - A further model's has its C(max_input_tokens), C(cooldown_time) and C(allowed_fails) when given; its
      C(timeout), C(stream_timeout), C(num_retries), C(rpm) and C(tpm) go into its C(litellm_params).
  type: list
  elements: dict
"""


class FilterModule:
    def filters(self):
        return {"litellm_model_list": litellm_model_list}
