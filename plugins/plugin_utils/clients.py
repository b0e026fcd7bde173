# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gateways' clients, in one place: who may call the gateways, with which key, for which models, how often.

A client is a host of the group `llm_clients` with its own key (`llm_client_key`, from Key Vault or generated
once on the controller), and each user the host lists in `llm_client_users` with their own key
(`llm_client_user_keys`), known to the gateways as HOST/USER. The gateways get the SHA-256 of each key, never
the key: their auth hook (roles/litellm/templates/tailnet_auth.py) compares hashes.
"""

from __future__ import annotations

import hashlib
import re

CLIENTS = "llm_clients"
# A login name as useradd takes it (and nothing that could leave the directory of the users' keys).
USER_NAME = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
USER_FIELDS = {"name", "models", "rpm", "tpm", "budget"}
# LiteLLM's budget_duration (litellm_core_utils/duration_parser.py): seconds, minutes, hours, days, weeks, months.
PERIOD = re.compile(r"^[1-9][0-9]*(s|m|h|d|w|mo)$")
BUDGET_FIELDS = {"max_usd", "period"}


def key_hash(key):
    """The SHA-256 (hex) of a key, as the gateways' auth hook computes it."""
    return hashlib.sha256(str(key).encode()).hexdigest()


def _limit(value):
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0)


def budget_problem(budget, where):
    """What is wrong with a budget ({max_usd: NUMBER, period: DURATION}, see plugins/plugin_utils/budgets.py),
    naming WHERE; None when it is fine or absent."""
    if budget is None:
        return None
    example = "e.g. {max_usd: 5.0, period: 30d}"
    if not isinstance(budget, dict):
        return f"{where} is {budget!r}: it must be a mapping with max_usd and period, {example}"
    if set(budget) - BUDGET_FIELDS:
        unknown = ", ".join(sorted(map(str, set(budget) - BUDGET_FIELDS)))
        return f"{where} has unknown keys: {unknown} (known: max_usd, period)"
    amount = budget.get("max_usd")
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount < 0:
        return f"{where}.max_usd is {amount!r}: it must be a number of US dollars, 0 or more, {example}"
    period = budget.get("period")
    if period is not None and not (isinstance(period, str) and PERIOD.match(period)):
        return (
            f"{where}.period is {period!r}: it must be a duration as LiteLLM's budget_duration takes it: a whole "
            "number and s, m, h, d, w or mo (30d, 1mo, 1w); leave it out for a budget that never resets"
        )
    return None


def _users(name, host):
    """HOST's llm_client_users, each checked against its key in llm_client_user_keys. Raises ValueError naming
    the host, the variable and the entry for a malformed entry, a user listed twice or a user without a key."""
    users, keys = host.get("llm_client_users") or [], host.get("llm_client_user_keys") or {}
    if not isinstance(users, list) or not isinstance(keys, dict):
        raise ValueError(f"host {name}: llm_client_users must be a list and llm_client_user_keys a dict")
    seen = set()
    for index, user in enumerate(users):
        where = f"host {name}: llm_client_users[{index}]"
        if not isinstance(user, dict) or not USER_NAME.match(str(user.get("name", ""))):
            raise ValueError(f"{where} must be a dict with the user's login name as `name`, e.g. {{name: alice}}")
        if set(user) - USER_FIELDS:
            unknown = ", ".join(sorted(map(str, set(user) - USER_FIELDS)))
            known = ", ".join(sorted(USER_FIELDS))
            raise ValueError(f"{where} ({user['name']}) has unknown keys: {unknown} (known: {known})")
        if not isinstance(user.get("models", []), list) or not (_limit(user.get("rpm")) and _limit(user.get("tpm"))):
            raise ValueError(f"{where} ({user['name']}): models must be a list, rpm and tpm whole numbers above 0")
        problem = budget_problem(user.get("budget"), f"{where} ({user['name']}).budget")
        if problem:
            raise ValueError(problem)
        if user["name"] in seen:
            raise ValueError(f"{where} ({user['name']}) is listed twice")
        if not keys.get(user["name"]):
            raise ValueError(f"{where} ({user['name']}) has no key in llm_client_user_keys")
        seen.add(user["name"])
    return [(user, keys[user["name"]]) for user in users]


def client_callers(name, host):
    """Who calls the gateways from client NAME (HOST its variables): the host with its own key (llm_client_key;
    none without one) and each user it lists in llm_client_users with theirs, as dicts with `name` (HOST or
    HOST/USER), `user` (None for the host), `key`, `models` (empty: every model), `rpm` and `tpm` (None: no limit).
    A user's models and limits are the host's unless the user's entry gives its own. Raises ValueError for a
    malformed llm_client_users."""
    limits = {field: host.get(f"llm_client_{field}") for field in ("models", "rpm", "tpm")}
    callers = []
    if host.get("llm_client_key"):
        callers.append({"name": name, "user": None, "key": host["llm_client_key"], **limits})
    for user, key in _users(name, host):
        own = {field: user[field] for field in limits if field in user}
        callers.append({"name": f"{name}/{user['name']}", "user": user["name"], "key": key, **limits, **own})
    return [{**caller, "models": list(caller["models"] or [])} for caller in callers]


def gateway_clients(groups, hostvars, revoked=()):
    """One entry per caller (client_callers) of each host of llm_clients not in REVOKED (a host there revokes its
    users too; HOST/USER there one user): its name (HOST or HOST/USER), the hash of its key, the models it may call
    (every model when empty) and its requests and tokens per minute (none when null)."""
    return [
        {
            "name": caller["name"],
            "key_sha256": key_hash(caller["key"]),
            "models": caller["models"],
            "rpm_limit": caller["rpm"],
            "tpm_limit": caller["tpm"],
        }
        for name in groups.get(CLIENTS, [])
        if name not in revoked
        for caller in client_callers(name, hostvars[name])
        if caller["name"] not in revoked
    ]


def client_problems(clients, master_key, var="litellm_clients"):
    """What is wrong with the gateway's clients: each problem names the entry. A client must never hold the
    master key, and no two clients may share a key (revoking one would revoke both)."""
    problems, seen = [], {}
    master = key_hash(master_key) if master_key else None
    for index, client in enumerate(clients):
        where = f"{var}[{index}]"
        digest = client.get("key_sha256") if isinstance(client, dict) else None
        if not isinstance(digest, str) or len(digest) != 64:
            problems.append(f"{where} has no key_sha256 (the SHA-256 of the client's key, 64 hex digits)")
            continue
        name = client.get("name")
        if digest == master:
            problems.append(f"{where} ({name}) holds the master key: give the client its own key")
        elif digest in seen:
            problems.append(f"{where} ({name}) has the same key as {seen[digest]}: give each client its own key")
        seen.setdefault(digest, name)
    return problems
