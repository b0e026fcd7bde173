"""tailnet.llm's auth hook for the LiteLLM proxy (general_settings.custom_auth): checks every request's key
without a database.

The master key makes the caller the proxy's administrator. A client's key is known by its SHA-256 only: the
role writes clients/clients.json next to this file with one entry per client (name, key_sha256, models, rpm_limit,
tpm_limit), and the proxy then enforces the client's models (custom_auth_run_common_checks with
enable_post_custom_auth_checks) and limits (its rate limiter, shared through Redis when the gateways share
one). Requests are logged with the client's name, never its key. Any other key is refused with 401.

The hook reads clients.json again on the first request after the role rewrote it (a new file: the role replaces it
whole), so that adding or revoking a client needs no restart of the gateway. The role mounts the file's directory,
not the file, for the container to see the new file.

In database mode an entry also says whom LiteLLM charges (plugins/plugin_utils/budgets.py): `user_id` (the
client host, a LiteLLM internal user), `end_user_id` (HOST/USER for a user of a client, a LiteLLM customer)
and `team_id` (its team, if any). LiteLLM then checks their budgets on every request and records their spend;
who the caller is stays decided here. Without those fields the caller's user is its name.

A caller may read its own numbers there, and nobody else's (`ask --usage`): in database mode a client's key may call
the LLM routes and only three others, /user/info (LiteLLM answers the caller's own user only), /customer/info and
/team/info. For the last two this hook asks for the caller's own customer and team when no id is given, and refuses
any other id (LiteLLM would answer /customer/info about anyone to whoever may call it). Every other management or
spend route (/spend/logs answers every caller's logs to any key without a role) is refused by LiteLLM.
"""

import hashlib
import hmac
import json
import os
import sys

from litellm.proxy._types import LitellmUserRoles, ProxyException, UserAPIKeyAuth
from starlette.datastructures import QueryParams

_CLIENTS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients", "clients.json")
_loaded = {"version": None, "clients": {}}  # the clients by their keys' SHA-256, and which file they came from
_MASTER = hashlib.sha256(os.environ["LITELLM_MASTER_KEY"].encode()).digest()
# Database mode: what a client's key may call (LiteLLM's route group of the LLM APIs, and its own numbers), and the
# query parameter and clients.json field of the routes about one entity.
_CLIENT_ROUTES = ["llm_api_routes", "/user/info", "/customer/info", "/team/info"]
_OWN = {"/customer/info": ("end_user_id", "end_user_id"), "/team/info": ("team_id", "team_id")}


def _clients():
    """The clients of clients.json as it is now. A file that cannot be read fails the request (no key is let in on an
    older list than the role wrote)."""
    stat = os.stat(_CLIENTS_FILE)
    version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    if version != _loaded["version"]:
        with open(_CLIENTS_FILE, encoding="utf-8") as file:
            clients = {client["key_sha256"]: client for client in json.load(file)}
        _loaded.update(version=version, clients=clients)
        sys.stderr.write(f"tailnet-llm: {len(clients)} clients from {_CLIENTS_FILE}\n")
    return _loaded["clients"]


_clients()  # a gateway whose clients.json is missing or broken does not start


def _own_only(request, client):
    """Point /customer/info and /team/info at the caller's own customer or team; refuse another (403) or none (404)."""
    param, field = _OWN[request.url.path]
    asked, own = request.query_params.get(param), client.get(field)
    if asked not in (None, own):
        raise ProxyException(
            message=f"{client['name']} may read only its own {param}", type="auth_error", param=param, code=403
        )
    if own is None:
        raise ProxyException(message=f"{client['name']} has no {param}", type="not_found", param=param, code=404)
    # The endpoint reads the query after this hook (FastAPI solves the dependencies first).
    query = QueryParams({param: own})
    request.scope["query_string"] = str(query).encode()
    request._query_params = query


async def user_api_key_auth(request, api_key):
    digest = hashlib.sha256((api_key or "").encode())
    if hmac.compare_digest(digest.digest(), _MASTER):
        return UserAPIKeyAuth(api_key=api_key, user_role=LitellmUserRoles.PROXY_ADMIN)
    client = _clients().get(digest.hexdigest())
    if client is None:
        raise ProxyException(
            message="Authentication Error: invalid API key", type="auth_error", param="api_key", code=401
        )
    sys.stderr.write(f"tailnet-llm: client {client['name']}: {request.method} {request.url.path}\n")
    database = "user_id" in client
    if database and request.url.path in _OWN:
        _own_only(request, client)
    return UserAPIKeyAuth(
        api_key=client["key_sha256"],
        token=client["key_sha256"],
        key_alias=client["name"],
        user_id=client.get("user_id", client["name"]),
        end_user_id=client.get("end_user_id"),
        team_id=client.get("team_id"),
        models=client["models"],
        rpm_limit=client["rpm_limit"],
        tpm_limit=client["tpm_limit"],
        allowed_routes=_CLIENT_ROUTES if database else [],
    )
