#!/usr/bin/python
# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: _litellm_budgets
short_description: Sync the callers' and teams' budgets into LiteLLM's database (internal)
description:
  - Internal to the collection (the C(budgets) entry point of the litellm role runs it); its options may change in any
    release.
  - Makes the database of a LiteLLM gateway in database mode hold the internal users, customers (end users) and
    teams of O(users), O(customers) and O(teams) with their budgets, through the gateway's management API
    (C(/user/...), C(/customer/...), C(/team/...)), as the P(tailnet.llm.gateway_budgets#filter) filter derives them
    from the inventory.
  - The entities it creates are marked (users and teams C(metadata.managed_by=tailnet.llm), customers the alias
    C(managed by tailnet.llm)); a marked entity that is no longer listed is deleted, an unmarked one is never touched.
    An entity listed here that exists unmarked fails the run before any write.
  - Only the budget (C(max_budget), C(budget_duration)) is written, never the spend. When the database already holds
    the lists, only reads are sent (C(changed=false)); in check mode, only reads.
version_added: 0.1.0
options:
  url:
    description: The gateway's URL, e.g. C(http://127.0.0.1:4000).
    type: str
    required: true
  master_key:
    description:
      - The gateway's master key; by default the environment variable C(LITELLM_MASTER_KEY) of the module's process.
      - Sent in a header only; never in the module's result. Give it as this option rather than through the task's
        C(environment), which Ansible writes into the command line that runs the module.
    type: str
  users:
    description: The internal users, C({user_id, max_budget, budget_duration}) (null budget fields for none).
    type: list
    elements: dict
    default: []
  customers:
    description: The customers (end users), C({user_id, max_budget, budget_duration}).
    type: list
    elements: dict
    default: []
  teams:
    description: The teams, C({team_id, max_budget, budget_duration}).
    type: list
    elements: dict
    default: []
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
    description: Reports what it would create, update and delete, and writes nothing.
  diff_mode:
    support: full
    description: Each budget before and after.
author:
  - tailnet.llm maintainers (@tailnet-llm)
"""

EXAMPLES = r"""
- name: Sync the budgets
  tailnet.llm._litellm_budgets:
    url: http://127.0.0.1:4000
    users: "{{ litellm_budgets.users }}"
    customers: "{{ litellm_budgets.customers }}"
    teams: "{{ litellm_budgets.teams }}"
    master_key: "{{ litellm_env_secrets.LITELLM_MASTER_KEY }}"
"""

RETURN = r"""
actions:
  description: Per kind (C(users), C(customers), C(teams)), the ids created, updated and deleted (or that would be).
  returned: always
  type: dict
  sample: {"users": {"create": ["motoko"], "update": [], "delete": ["old-host"]}, "customers": {}, "teams": {}}
"""

import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.tailnet.llm.plugins.module_utils.litellm_budgets import (  # noqa: E402
    BudgetsError,
    Gateway,
    sync,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "master_key": {"type": "str", "no_log": True},
            "users": {"type": "list", "elements": "dict", "default": []},
            "customers": {"type": "list", "elements": "dict", "default": []},
            "teams": {"type": "list", "elements": "dict", "default": []},
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
    desired = {kind: p[kind] for kind in ("users", "customers", "teams")}
    try:
        result = sync(gateway, desired, module.check_mode)
    except BudgetsError as e:
        module.fail_json(msg=str(e))
    if not module._diff:
        result.pop("diff")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
