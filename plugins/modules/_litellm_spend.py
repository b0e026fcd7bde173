#!/usr/bin/python
# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: _litellm_spend
short_description: Spend per client, user, team and model over a period, from a LiteLLM gateway (internal)
description:
  - Internal to the collection (the playbook C(tailnet.llm.spend) runs it); its options may change in any
    release.
  - Reads the spend logs of a LiteLLM gateway in database mode between two times (C(/spend/logs/v2), with the master
    key) and adds them up per client host (LiteLLM's user), user of a client (customer, C(HOST/USER)), team and model.
  - Only reads; never changes anything.
version_added: 0.1.0
options:
  url:
    description: The gateway's URL, e.g. C(http://127.0.0.1:4000).
    type: str
    required: true
  master_key:
    description:
      - The gateway's master key; by default the environment variable C(LITELLM_MASTER_KEY) of the module's process.
      - Sent in a header only; never in the module's result.
    type: str
  period:
    description:
      - How far back from O(end), a number and a unit, C(s), C(m), C(h), C(d), C(w) or C(mo) (30 days), e.g. C(30d).
      - Ignored when O(start) is given.
    type: str
    default: 30d
  start:
    description: The start, C(YYYY-MM-DD) or C(YYYY-MM-DD HH:MM:SS), UTC.
    type: str
  end:
    description: The end, C(YYYY-MM-DD) (the end of that day) or C(YYYY-MM-DD HH:MM:SS), UTC; by default now.
    type: str
  timeout:
    description: Seconds each request may take.
    type: int
    default: 30
  validate_certs:
    description: Whether to check the gateway's TLS certificate (an C(https) URL).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Reads only, in check mode too.
  diff_mode:
    support: none
    description: It changes nothing, so there is no diff.
author:
  - tailnet.llm maintainers (@tailnet-llm)
"""

EXAMPLES = r"""
- name: Read the spend of the last 30 days
  tailnet.llm._litellm_spend:
    url: http://127.0.0.1:4000
    master_key: "{{ litellm_env_secrets.LITELLM_MASTER_KEY }}"
    period: 30d
  register: spend
"""

RETURN = r"""
start:
  description: The period's start, UTC.
  returned: always
  type: str
  sample: "2026-11-06 00:00:00"
end:
  description: The period's end, UTC.
  returned: always
  type: str
  sample: "2026-12-06 00:00:00"
spend:
  description:
    - C(total) (USD) and C(requests), and per group (C(clients), C(users), C(teams), C(models)) each name's
      C(spend) and C(requests).
  returned: always
  type: dict
  sample: {"total": 6.0, "requests": 3, "clients": {"motoko": {"spend": 6.0, "requests": 3}}, "users": {},
           "teams": {}, "models": {"akira/qwen2.5-7b": {"spend": 6.0, "requests": 3}}}
report:
  description: The same as lines of text, most spent first in each group.
  returned: always
  type: list
  elements: str
"""

import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.tailnet.llm.plugins.module_utils.litellm_budgets import BudgetsError, Gateway  # noqa: E402
from ansible_collections.tailnet.llm.plugins.module_utils.litellm_spend import spend  # noqa: E402


def main():
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "master_key": {"type": "str", "no_log": True},
            "period": {"type": "str", "default": "30d"},
            "start": {"type": "str"},
            "end": {"type": "str"},
            "timeout": {"type": "int", "default": 30},
            "validate_certs": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    master_key = p["master_key"] or os.environ.get("LITELLM_MASTER_KEY")
    if not master_key:
        module.fail_json(msg="no master key: give master_key or set LITELLM_MASTER_KEY in the module's environment")
    module.no_log_values.add(master_key)
    gateway = Gateway(p["url"], master_key, p["timeout"], p["validate_certs"])
    try:
        result = spend(gateway, p["period"], p["start"], p["end"])
    except BudgetsError as e:
        module.fail_json(msg=str(e))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
