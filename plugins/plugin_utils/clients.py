# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gateways' clients, in one place: who may call the gateways, with which key, for which models, how often.

A client is a host of the group `llm_clients` with its own key (`llm_client_key`, from Key Vault or generated
once on the controller). The gateways get the SHA-256 of each key, never the key: their auth hook
(roles/litellm/templates/tailnet_auth.py) compares hashes.
"""

from __future__ import annotations

import hashlib

CLIENTS = "llm_clients"


def key_hash(key):
    """The SHA-256 (hex) of a key, as the gateways' auth hook computes it."""
    return hashlib.sha256(str(key).encode()).hexdigest()


def gateway_clients(groups, hostvars, revoked=()):
    """One entry per host of llm_clients not in REVOKED: its name, the hash of its key, the models it may call
    (every model when empty) and its requests and tokens per minute (none when null). A client without a key
    is left out (it gets none, and the gateways let it in nowhere)."""
    entries = []
    for name in groups.get(CLIENTS, []):
        host = hostvars[name]
        key = host.get("llm_client_key")
        if name in revoked or not key:
            continue
        entries.append(
            {
                "name": name,
                "key_sha256": key_hash(key),
                "models": list(host.get("llm_client_models") or []),
                "rpm_limit": host.get("llm_client_rpm"),
                "tpm_limit": host.get("llm_client_tpm"),
            }
        )
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
