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


def _backend_problems(backends, var="vllm_backends", extra_models=(), default_model=None, local=False):
    problems = backend_problems(backends, var=var, extra_models=extra_models, default_model=default_model)
    if local:
        problems += local_backend_problems(backends, var=var)
    return problems


class FilterModule:
    def filters(self):
        return {"backend_problems": _backend_problems}
