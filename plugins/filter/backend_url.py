# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible_collections.tailnet.llm.plugins.plugin_utils.backends import backend_url

DOCUMENTATION = r"""
name: backend_url
short_description: The base URL of a backend's vLLM server
description:
  - Returns C(http://HOST:PORT) of a backend, with an IPv6 address in brackets.
options:
  _input:
    description: One backend, in the shape of an entry of C(vllm_backends).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Where each backend answers
  ansible.builtin.debug:
    msg: "{{ vllm_backends | map('tailnet.llm.backend_url') }}"
"""

RETURN = r"""
_value:
  description: The URL, without a trailing slash.
  type: str
"""


class FilterModule:
    def filters(self):
        return {"backend_url": backend_url}
