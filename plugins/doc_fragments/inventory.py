# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    # The inventory, as the filters that derive the fleet's wiring from it take it.
    GROUPS = r"""
options:
  groups:
    description: The inventory's groups (C(groups)).
    type: dict
    required: true
"""

    HOSTVARS = r"""
options:
  hostvars:
    description: Every host's variables (C(hostvars)).
    type: dict
    required: true
"""
