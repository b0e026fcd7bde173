# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible_collections.tailnet.llm.plugins.plugin_utils.backends import backend_problems, local_backend_problems

DOCUMENTATION = r"""
name: backend_problems
short_description: List what is wrong with a vllm_backends list
description:
  - Returns one message per problem that argument specs cannot catch, each naming the variable path
    and the offending value (port out of range, duplicate names, ids or aliases, the alias C(default)
    defined twice, a default model that is no alias). An empty list means the input is fine.
  - The further models (O(extra_models), in the shape of C(litellm_extra_models)) are checked too, for a provider
    this collection supports, its address, its key only as the name of an environment variable (a key written
    into the inventory is refused, and never shown), per-model settings, and fallbacks that name configured
    models, do not go round, and never lead to a smaller context window where both are known.
  - With O(local=true), also checks the backends this host serves itself (one model per vLLM server).
extends_documentation_fragment:
  - tailnet.llm.backends
options:
  var:
    description: Name of the variable, used in the messages.
    type: str
    default: vllm_backends
  extra_models:
    description: Further models (each with an C(alias)) that share the alias namespace.
    type: list
    elements: dict
    default: []
  default_model:
    description: The alias that C(default) points at; omit to skip the default checks.
    type: str
  secret_names:
    description: The names C(litellm_env_secrets) holds; when given, every C(api_key_env) must be one of them.
    type: list
    elements: str
  router_settings:
    description: C(litellm_router_settings), whose C(fallbacks) must not be given beside the models' own.
    type: dict
  local:
    description: Check the backends served on this host too.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Fail on a malformed vllm_backends
  ansible.builtin.fail:
    msg: "{{ inventory_hostname }}: {{ __problems | join('; ') }}"
  vars:
    __problems: "{{ vllm_backends | tailnet.llm.backend_problems(local=true) }}"
  when: __problems | length > 0
"""

RETURN = r"""
_value:
  description: One message per problem; empty when there is none.
  type: list
  elements: str
"""


def _backend_problems(
    backends,
    var="vllm_backends",
    extra_models=(),
    default_model=None,
    secret_names=None,
    router_settings=None,
    local=False,
):
    problems = backend_problems(
        backends,
        var=var,
        extra_models=extra_models,
        default_model=default_model,
        secret_names=None if secret_names is None else list(secret_names),
        router_settings=router_settings,
    )
    if local:
        problems += local_backend_problems(backends, var=var)
    return problems


class FilterModule:
    def filters(self):
        return {"backend_problems": _backend_problems}
