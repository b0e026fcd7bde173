# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible_collections.tailnet.llm.plugins.plugin_utils.backends import local_backends

DOCUMENTATION = r"""
name: local_backends
short_description: The backends a host serves itself
description:
  - Returns the backends whose C(host) is C(127.0.0.1), C(localhost) or C(::1), in their order. The vllm
    role runs one vLLM server for each of them on the host.
extends_documentation_fragment:
  - tailnet.llm.backends
"""

EXAMPLES = r"""
- name: Name the backends served here
  ansible.builtin.debug:
    msg: "{{ vllm_backends | tailnet.llm.local_backends | map(attribute='name') }}"
"""

RETURN = r"""
_value:
  description: The local backends, unchanged.
  type: list
  elements: dict
"""


class FilterModule:
    def filters(self):
        return {"local_backends": local_backends}
