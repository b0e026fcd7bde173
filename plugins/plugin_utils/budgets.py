# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The budgets of the gateways' callers, in one place: what LiteLLM's database mode charges and limits.

The auth hook (roles/litellm/templates/tailnet_auth.py) decides who a caller is, by the hash of its key
(plugins/plugin_utils/clients.py). In database mode it also tells LiteLLM whom to charge, and LiteLLM's own
entities carry the budgets and the spend:

- a client host is a LiteLLM internal user named HOST, with the host's `llm_client_budget`;
- a user of a client (HOST/USER) is charged as the user HOST too (its spend counts toward the host's budget)
  and as a LiteLLM customer (end user) named HOST/USER, with the user's own `budget` from `llm_client_users`;
- a team (`llm_teams`, a site fact: a named set of callers) is a LiteLLM team with its budget; a caller
  belongs to at most one team.

A budget is `{max_usd: NUMBER, period: DURATION}`: USD over LiteLLM's budget_duration (`30d`, `1mo`, `1w`, ...;
without a period the budget never resets). Every client host and user gets its entity, with or without a
budget, so that the spend of each is recorded.
"""

from __future__ import annotations

import re

from ansible_collections.tailnet.llm.plugins.plugin_utils.clients import budget_problem

TEAM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
TEAM_FIELDS = {"name", "members", "budget"}


def _limits(budget):
    """LiteLLM's max_budget and budget_duration of a budget (both None without one)."""
    if budget is None:
        return {"max_budget": None, "budget_duration": None}
    return {"max_budget": float(budget["max_usd"]), "budget_duration": budget.get("period")}


def _check(problem):
    if problem:
        raise ValueError(problem)


def _revoked(member, revoked):
    return member in revoked or member.partition("/")[0] in revoked


def _teams(teams, callers, revoked=()):
    """The teams, checked; and caller name -> team name. A member revoked (llm_revoked_clients: the caller or its
    host) is left out, so that revoking a caller needs no change of its team. Raises ValueError naming the entry."""
    if not isinstance(teams, list):
        raise ValueError(f"llm_teams is {teams!r}: it must be a list of teams")
    seen, member_of = set(), {}
    for index, team in enumerate(teams):
        where = f"llm_teams[{index}]"
        if not isinstance(team, dict) or not TEAM_NAME.match(str(team.get("name", ""))):
            raise ValueError(
                f"{where} must be a mapping with a `name` (letters, digits, _ . -), e.g. "
                "{name: research, members: [motoko, motoko/alice], budget: {max_usd: 20, period: 1mo}}"
            )
        name = team["name"]
        where = f"{where} ({name})"
        if set(team) - TEAM_FIELDS:
            unknown = ", ".join(sorted(map(str, set(team) - TEAM_FIELDS)))
            raise ValueError(f"{where} has unknown keys: {unknown} (known: name, members, budget)")
        if name in seen:
            raise ValueError(f"{where} is listed twice")
        seen.add(name)
        _check(budget_problem(team.get("budget"), f"{where}.budget"))
        members = team.get("members") or []
        if not isinstance(members, list):
            raise ValueError(f"{where}.members must be a list of callers: HOST or HOST/USER")
        for m_index, member in enumerate(members):
            at = f"{where}.members[{m_index}]"
            if member not in callers and _revoked(str(member), revoked):
                continue
            if member not in callers:
                raise ValueError(
                    f"{at} is {member!r}, which is no caller of the gateways: a host of llm_clients with a key "
                    "(HOST) or a user it lists in llm_client_users (HOST/USER)"
                )
            if member in member_of:
                raise ValueError(
                    f"{at}: {member} is already a member of team {member_of[member]}: a caller "
                    "belongs to at most one team"
                )
            member_of[member] = name
    return member_of


def _user_budgets(host, variables):
    """USER -> budget of the entries of HOST's llm_client_users that give one (each checked)."""
    budgets = {}
    for index, user in enumerate(variables.get("llm_client_users") or []):
        if isinstance(user, dict) and user.get("budget") is not None:
            _check(
                budget_problem(user["budget"], f"host {host}: llm_client_users[{index}] ({user.get('name')}).budget")
            )
            budgets[user.get("name")] = user["budget"]
    return budgets


def gateway_budgets(clients, hostvars, teams=None, revoked=()):
    """What LiteLLM's database mode holds for the callers the gateways let in (CLIENTS: litellm_clients, as
    tailnet.llm.gateway_clients says who they are, named HOST or HOST/USER) and for TEAMS (llm_teams):

    - `users`: one per client host, `{user_id: HOST, max_budget, budget_duration}` (llm_client_budget);
    - `customers`: one per user of a client, `{user_id: HOST/USER, max_budget, budget_duration}` (its `budget`);
    - `teams`: one per team, `{team_id: NAME, max_budget, budget_duration}`;
    - `callers`: caller name -> whom LiteLLM charges: `{user_id: HOST}`, with `end_user_id: HOST/USER` for a
      user and `team_id` for a member of a team (what the auth hook returns for the caller).

    Only budgets are read from HOSTVARS (never a key). max_budget and budget_duration are null without a budget
    (spend recorded, nothing refused). Raises ValueError naming the host, the variable and the entry for a
    malformed budget or team, or a team's member that is no caller and not in REVOKED (llm_revoked_clients)."""
    users, customers, callers = {}, [], {}
    for client in clients:
        name = client["name"]
        host, _slash, user = name.partition("/")
        # Ansible's hostvars answer an unknown host with an undefined value, not a KeyError: ask first (a caller of
        # an operator's own litellm_clients may be no host of the inventory).
        variables = {}
        if host in hostvars:
            variables = hostvars[host]
        if host not in users:
            budget = variables.get("llm_client_budget")
            _check(budget_problem(budget, f"host {host}: llm_client_budget"))
            users[host] = {"user_id": host, **_limits(budget)}
        callers[name] = {"user_id": host}
        if user:
            customers.append({"user_id": name, **_limits(_user_budgets(host, variables).get(user))})
            callers[name]["end_user_id"] = name
    teams = [] if teams is None else teams
    for caller, team in _teams(teams, callers, revoked).items():
        callers[caller]["team_id"] = team
    return {
        "users": list(users.values()),
        "customers": customers,
        "teams": [{"team_id": team["name"], **_limits(team.get("budget"))} for team in teams],
        "callers": callers,
    }
