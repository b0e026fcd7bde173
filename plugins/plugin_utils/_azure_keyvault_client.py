# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fetch secrets from Azure Key Vault for the tailnet.llm.azure_keyvault lookup.

Internal to this collection (like the other `_azure_keyvault_*` modules): the interfaces may change in any release.

One SecretClient per vault lives as long as the process, so later lookups reuse its open connections,
and a lookup call fetches all its terms concurrently through that one client. The credential comes
from _azure_keyvault_credentials, the wording of errors from _azure_keyvault_errors.
"""

from __future__ import annotations

import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from ansible.errors import AnsibleError
from ansible_collections.tailnet.llm.plugins.plugin_utils import _azure_keyvault_credentials as credentials
from ansible_collections.tailnet.llm.plugins.plugin_utils import _azure_keyvault_errors as errors
from ansible_collections.tailnet.llm.plugins.plugin_utils._azure_keyvault_options import check_options, parse_term

try:
    import requests
    from azure.core.exceptions import ResourceNotFoundError
    from azure.core.pipeline.transport import RequestsTransport
    from azure.keyvault.secrets import SecretClient
except ImportError as exc:
    IMPORT_ERROR = exc
else:
    IMPORT_ERROR = credentials.IMPORT_ERROR or errors.IMPORT_ERROR

_MISSING = object()

_CLIENTS = {}  # (vault, credential key, client settings) -> SecretClient
_LOCK = threading.Lock()


def _transport(vault, options):
    """A requests transport with one connection pool for the vault, as large as the lookup's concurrency.

    Proxies and the CA bundle come from the environment as usual, but are read once here instead of on
    every request (requests scans the whole environment each time).
    """
    session = requests.Session()
    session.trust_env = False
    session.proxies = requests.utils.get_environ_proxies(vault)
    adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=options["max_concurrency"])
    session.mount("https://", adapter)
    ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return RequestsTransport(
        session=session,
        session_owner=True,
        connection_verify=ca_bundle,
        connection_timeout=options["timeout"],
        read_timeout=options["timeout"],
    )


def get_client(vault, options):
    """The process-wide (client, SharedCredential) for this vault and these options (built on first use)."""
    credential = credentials.shared_credential(options)
    key = (
        vault,
        credentials.credential_key(options),
        options["verify_challenge_resource"],
        options["max_concurrency"],
    )
    with _LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = SecretClient(
                vault,
                credential,
                verify_challenge_resource=options["verify_challenge_resource"],
                transport=_transport(vault, options),
                **credentials.transport_kwargs(options),
            )
        return _CLIENTS[key], credential


def clear_cache():
    """Close the cached clients and forget the credentials and their tokens (a cold start, for tests)."""
    with _LOCK:
        for client in _CLIENTS.values():
            client.close()
        _CLIENTS.clear()
    credentials.forget_credentials()


def _after_fork_in_child():
    """Forget the parent's clients without closing them: two processes writing to one TLS connection corrupt it."""
    global _LOCK
    _LOCK = threading.Lock()
    _CLIENTS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _fetch_one(client, default, item):
    """(value, None), or (None, exception) for a failure: every failure becomes a line of one AnsibleError."""
    name, version = item
    try:
        return client.get_secret(name, version).value, None
    except ResourceNotFoundError as exc:
        if default is not _MISSING:
            return default, None
        return None, exc
    except Exception as exc:
        return None, exc


def _fetch_all(client, items, default, max_concurrency):
    fetch = functools.partial(_fetch_one, client, default)
    workers = min(len(items), max_concurrency)
    if workers == 1:
        return [fetch(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="azure_keyvault") as pool:
        return list(pool.map(fetch, items))


def fetch_secrets(terms, options, default=_MISSING):
    """Return the values of `terms` ('name' or 'name/version') from options['vault_url'], in order.

    Missing secrets get `default` when one is given; any other failure raises one AnsibleError that
    lists every secret that could not be fetched and why.
    """
    if IMPORT_ERROR is not None:
        raise AnsibleError(
            f"azure_keyvault needs azure-identity and azure-keyvault-secrets on the controller ({IMPORT_ERROR}): "
            "pip install azure-identity azure-keyvault-secrets"
        )
    vault = check_options(options)
    items = [parse_term(term) for term in terms]
    if not items:
        return []
    client, credential = get_client(vault, options)
    results = _fetch_all(client, items, default, options["max_concurrency"])
    if any(exc is not None for _value, exc in results):
        raise errors.fetch_error(vault, terms, results, credential.describe, options)
    return [value for value, _exc in results]
