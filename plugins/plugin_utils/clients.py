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
USER_FIELDS = {"name", "models", "rpm", "tpm"}


def key_hash(key):
    """The SHA-256 (hex) of a key, as the gateways' auth hook computes it."""
    return hashlib.sha256(str(key).encode()).hexdigest()


def _entry(name, key, limits):
    """The gateway's entry of client NAME with KEY and LIMITS (models, rpm, tpm)."""
    return {
        "name": name,
        "key_sha256": key_hash(key),
        "models": list(limits.get("models") or []),
        "rpm_limit": limits.get("rpm"),
        "tpm_limit": limits.get("tpm"),
    }


def _limit(value):
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0)


def client_users(name, host):
    """The users of client NAME whose own keys the gateways take: HOST's llm_client_users, each checked. Raises
    ValueError naming the host, the variable and the entry for a malformed entry or a user without a key."""
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
            raise ValueError(f"{where} ({user['name']}) has unknown keys: {unknown} (known: name, models, rpm, tpm)")
        if not isinstance(user.get("models", []), list) or not (_limit(user.get("rpm")) and _limit(user.get("tpm"))):
            raise ValueError(f"{where} ({user['name']}): models must be a list, rpm and tpm whole numbers above 0")
        if user["name"] in seen:
            raise ValueError(f"{where} ({user['name']}) is listed twice")
        if not keys.get(user["name"]):
            raise ValueError(f"{where} ({user['name']}) has no key in llm_client_user_keys")
        seen.add(user["name"])
    return users


def gateway_clients(groups, hostvars, revoked=()):
    """One entry per host of llm_clients, and per user it lists, not in REVOKED (a host there revokes its users
    too): its name (HOST or HOST/USER), the hash of its key, the models it may call (every model when empty) and
    its requests and tokens per minute (none when null). A user's models and limits are the host's unless the
    user's entry gives its own. A host without a key is left out (it gets none, and the gateways let it in
    nowhere); its users are not."""
    entries = []
    for name in groups.get(CLIENTS, []):
        host = hostvars[name]
        if name in revoked:
            continue
        limits = {field: host.get(f"llm_client_{field}") for field in ("models", "rpm", "tpm")}
        if host.get("llm_client_key"):
            entries.append(_entry(name, host["llm_client_key"], limits))
        keys = host.get("llm_client_user_keys") or {}
        for user in client_users(name, host):
            if f"{name}/{user['name']}" not in revoked:
                entries.append(_entry(f"{name}/{user['name']}", keys[user["name"]], {**limits, **user}))
    return entries


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
