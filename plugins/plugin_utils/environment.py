# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rule for a service's environment (its env file, sourced by a shell): names that are variable names,
values that are one line of text. Problems name the variable and the entry, never a value."""

from __future__ import annotations

import json
import re

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LINE_BREAK = re.compile(r"[\r\n]")


def env_problems(envs):
    """ENVS maps each variable's name (e.g. vllm_env) to its ENV_NAME -> value dict; returns the problems."""
    problems = []
    for var, env in envs.items():
        for name, value in env.items():
            if not isinstance(name, str) or not _NAME.match(name):
                # JSON shows a space or an empty name.
                problems.append(
                    f"{var}: {json.dumps(str(name))} is not an environment variable name"
                    " (letters, digits and _, not starting with a digit)"
                )
            elif isinstance(value, (dict, list, tuple, set)) or _LINE_BREAK.search(str(value)):
                problems.append(f"{var}.{name}: the value must be one line of text")
    return problems
