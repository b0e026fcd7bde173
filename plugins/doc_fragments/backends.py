# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    # The input of the filters over a backends list.
    DOCUMENTATION = r"""
options:
  _input:
    description: The backends, in the shape of C(vllm_backends) (C(ansible-doc -t role tailnet.llm.vllm)).
    type: list
    elements: dict
    required: true
"""
