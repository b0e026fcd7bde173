# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.tailnet.llm.plugins.plugin_utils.budgets import gateway_budgets

DOCUMENTATION = r"""
name: gateway_budgets
short_description: The budgets of the gateways' callers and teams, as LiteLLM's database mode holds them
description:
  - Returns what the gateways' database holds for the callers the gateways let in (C(litellm_clients), whom the
    P(tailnet.llm.gateway_clients#filter) filter names C(HOST) or C(HOST/USER)), and for the teams.
  - Only the budgets are read from the hosts' variables, never a key.
  - A client host is a LiteLLM internal user C(HOST) with its C(llm_client_budget); a user of a client (an entry of
    C(llm_client_users)) is charged as the user C(HOST) too, so that its spend counts toward the host's budget, and
    as a LiteLLM customer C(HOST/USER) with the entry's own C(budget); a team of O(teams) is a LiteLLM team.
  - "A budget is C({max_usd: NUMBER, period: DURATION}): US dollars over LiteLLM's C(budget_duration) (C(30d),
    C(1mo), C(1w), ...); without C(period) it never resets. Without a budget the spend is recorded and nothing is
    refused."
  - Fails naming the host, the variable and the entry for a malformed budget, a malformed team, a team member that
    is no caller, or a caller in two teams.
extends_documentation_fragment:
  - tailnet.llm.inventory.hostvars
options:
  _input:
    description: The callers the gateways let in (C(litellm_clients)); only their C(name) is read.
    type: list
    elements: dict
    required: true
  teams:
    description:
      - "The teams (C(llm_teams)), each C({name: NAME, members: [CALLER, ...], budget: BUDGET}); a member is a
        caller: C(HOST) (the host's own key) or C(HOST/USER). A caller belongs to at most one team."
    type: list
    elements: dict
    default: []
  revoked:
    description:
      - The revoked callers and hosts (C(llm_revoked_clients)); a team's member among them is left out of the team
        instead of refused as no caller, so that revoking a caller needs no change of its team.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
# roles/litellm/defaults/main.yml: the budgets the gateways' database holds.
litellm_budgets: "{{ litellm_clients | tailnet.llm.gateway_budgets(hostvars, teams=llm_teams | default([]),
                                                       revoked=llm_revoked_clients | default([])) }}"
"""

RETURN = r"""
_value:
  description: What LiteLLM holds.
  type: dict
  contains:
    users:
      description: One per client host, C({user_id, max_budget, budget_duration}) (both null without a budget).
      type: list
      elements: dict
    customers:
      description: One per user of a client, C({user_id (HOST/USER), max_budget, budget_duration}).
      type: list
      elements: dict
    teams:
      description: One per team, C({team_id, max_budget, budget_duration}).
      type: list
      elements: dict
    callers:
      description:
        - Caller name to whom LiteLLM charges its requests, C({user_id, end_user_id, team_id}) (the last two when
          they apply); the auth hook returns them (C(clients.json)).
      type: dict
"""


def _gateway_budgets(clients, hostvars, teams=(), revoked=()):
    try:
        return gateway_budgets(clients, hostvars, list(teams or []), revoked=list(revoked or []))
    except ValueError as e:
        raise AnsibleFilterError(f"gateway_budgets: {e}") from e


class FilterModule:
    def filters(self):
        return {"gateway_budgets": _gateway_budgets}
