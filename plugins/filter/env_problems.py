# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible_collections.tailnet.llm.plugins.plugin_utils.environment import env_problems

DOCUMENTATION = r"""
name: env_problems
short_description: What is wrong with a service's environment variables
description:
  - Checks the variables that become a service's env file (sourced by the container's shell). Each name must
    be an environment variable name and each value one line of text.
  - Returns one message per problem, naming the variable and the entry and never a value; empty when all is
    well.
options:
  _input:
    description: Each variable's name (e.g. C(vllm_env)) mapped to its value, a dict ENV_NAME to value.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Check the environment
  ansible.builtin.fail:
    msg: "host {{ inventory_hostname }}: {{ __problems | join('; ') }}"
  vars:
    __problems: "{{ {'vllm_env': vllm_env, 'vllm_env_secrets': vllm_env_secrets} | tailnet.llm.env_problems }}"
  when: __problems | length > 0
"""

RETURN = r"""
_value:
  description: One message per problem; empty when there is none.
  type: list
  elements: str
"""


class FilterModule:
    def filters(self):
        return {"env_problems": env_problems}
