# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The azure-identity credential for the tailnet.llm.azure_keyvault lookup's `auth` setting, one per process.

Internal to this collection (like the other `_azure_keyvault_*` modules): the interfaces may change in any release.

One credential per authentication setting lives as long as the process, so later lookups reuse its token
(no request to Entra ID). Ansible forks a worker per task: a child keeps the tokens its parent already has.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
import time

from ansible.errors import AnsibleError

try:
    from azure.core.credentials import AccessTokenInfo
    from azure.identity import (
        AzureCliCredential,
        CertificateCredential,
        ChainedTokenCredential,
        ClientSecretCredential,
        ManagedIdentityCredential,
        WorkloadIdentityCredential,
    )
except ImportError as exc:
    IMPORT_ERROR = exc
else:
    IMPORT_ERROR = None

# azure-identity logs every failed attempt as a WARNING; without a handler Python prints those to stderr.
# The lookup's AnsibleError says the same thing once, so keep the SDK quiet unless logging is configured.
if not logging.getLogger("azure").handlers:
    logging.getLogger("azure").addHandler(logging.NullHandler())

REFRESH_MARGIN = 300  # seconds: a token that expires sooner is renewed before use

_SHARED = {}  # credential_key(options) -> SharedCredential
_LOCK = threading.Lock()


def transport_kwargs(options):
    """Timeouts and retries for an azure-core pipeline (the credential's and the vault client's)."""
    return {
        "connection_timeout": options["timeout"],
        "read_timeout": options["timeout"],
        "retry_total": options["retries"],
    }


def _entra_kwargs(options):
    """Keyword arguments of the credentials that ask Entra ID for a token."""
    kwargs = dict(transport_kwargs(options), authority=options["authority_host"])
    if options.get("disable_instance_discovery"):
        kwargs["disable_instance_discovery"] = True
    return kwargs


def _require(auth, options, names, sources):
    """Raise AnsibleError listing what auth=AUTH lacks: `names` are option names, or an 'a or b' alternative."""
    missing = [name for name in names if not any(options.get(n) for n in name.split(" or "))]
    if missing:
        raise AnsibleError(f"azure_keyvault: auth={auth} needs {', '.join(missing)} (options, or {sources})")


def _cli(options):
    return AzureCliCredential(tenant_id=options.get("tenant_id") or "", process_timeout=options["timeout"])


def _service_principal(options):
    _require(
        "service_principal",
        options,
        ("tenant_id", "client_id", "client_secret or client_certificate_path"),
        "AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET / AZURE_CLIENT_CERTIFICATE_PATH",
    )
    tenant, client_id = options["tenant_id"], options["client_id"]
    if options.get("client_secret"):
        return ClientSecretCredential(tenant, client_id, options["client_secret"], **_entra_kwargs(options))
    return CertificateCredential(
        tenant,
        client_id,
        options["client_certificate_path"],
        password=options.get("client_certificate_password"),
        **_entra_kwargs(options),
    )


def _workload_identity(options):
    _require(
        "workload_identity",
        options,
        ("tenant_id", "client_id", "federated_token_file"),
        "AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE",
    )
    return WorkloadIdentityCredential(
        tenant_id=options["tenant_id"],
        client_id=options["client_id"],
        token_file_path=options["federated_token_file"],
        **_entra_kwargs(options),
    )


def _managed_identity(options):
    return ManagedIdentityCredential(client_id=options.get("client_id") or None, **transport_kwargs(options))


def _client(options):
    return f"client {options.get('client_id')}"


# auth setting -> (build its credential, what error messages call it)
_METHODS = {
    "cli": (_cli, lambda options: "Azure CLI login"),
    "service_principal": (_service_principal, _client),
    "workload_identity": (_workload_identity, _client),
    "managed_identity": (
        _managed_identity,
        lambda options: _client(options) if options.get("client_id") else "system-assigned",
    ),
}
AUTH_METHODS = ("auto", *_METHODS)


def _auto_chain(options):
    """auth=auto: (credential, name) of what is configured, then the Azure CLI login.

    Never the managed identity endpoint: off Azure nothing answers there and every lookup would wait.
    """
    client_id = options.get("client_id")
    if client_id and (options.get("client_secret") or options.get("client_certificate_path")):
        yield _service_principal(options), f"service principal {client_id}"
    elif client_id and options.get("federated_token_file"):
        yield _workload_identity(options), f"workload identity {client_id}"
    yield _cli(options), "Azure CLI login"


def build_credential(options):
    """Return (credential, description) for options['auth'], e.g. "auth=cli (Azure CLI login)" for errors."""
    auth = options["auth"]
    if auth == "auto":
        credentials, names = zip(*_auto_chain(options))
        credential = credentials[0] if len(credentials) == 1 else ChainedTokenCredential(*credentials)
        return credential, f"auth=auto ({', then '.join(names)})"
    build, name = _METHODS[auth]
    return build(options), f"auth={auth} ({name(options)})"


def _is_fresh(token):
    now = time.time()
    return token and token.expires_on - now > REFRESH_MARGIN and not (token.refresh_on and token.refresh_on <= now)


class SharedCredential:
    """Wrap a credential: hand out one token per scope/tenant until it is due for refresh, one request at a time.

    The threads of a lookup call ask for the vault token together; this makes that one request to
    Entra ID (or one `az` run), and later calls in the same process reuse the token.
    """

    def __init__(self, build):
        self._build = build  # returns (credential, description)
        self.credential, self.describe = build()  # describe: what errors say, e.g. "auth=cli (Azure CLI login)"
        self._tokens = {}
        self._lock = threading.Lock()
        self.requests = 0  # tokens actually requested from the inner credential

    def forked(self):
        """In a forked child: a new lock, and a new inner credential on first use (the old one has shared sockets)."""
        self._lock = threading.Lock()
        self.credential = None

    def _request(self, scopes, options):
        self.requests += 1
        if self.credential is None:
            self.credential = self._build()[0]
        if hasattr(self.credential, "get_token_info"):
            return self.credential.get_token_info(*scopes, options=options)
        legacy = self.credential.get_token(
            *scopes,
            claims=options.get("claims"),
            tenant_id=options.get("tenant_id"),
            enable_cae=bool(options.get("enable_cae")),
        )
        return AccessTokenInfo(legacy.token, legacy.expires_on)

    def get_token_info(self, *scopes, options=None):
        options = dict(options or {})
        key = (scopes, options.get("tenant_id"), bool(options.get("enable_cae")))
        with self._lock:
            token = self._tokens.get(key)
            if options.get("claims") or not _is_fresh(token):
                token = self._tokens[key] = self._request(scopes, options)
            return token

    def get_token(self, *scopes, claims=None, tenant_id=None, enable_cae=False, **kwargs):
        options = {"enable_cae": enable_cae}
        if claims:
            options["claims"] = claims
        if tenant_id:
            options["tenant_id"] = tenant_id
        return self.get_token_info(*scopes, options=options)


def credential_key(options):
    """What makes two credentials differ: every setting, and the secrets only as a hash."""
    secret_parts = (options.get("client_secret") or "", options.get("client_certificate_password") or "")
    fingerprint = hashlib.sha256("\0".join(secret_parts).encode()).hexdigest()
    return (
        options["auth"],
        options.get("tenant_id"),
        options.get("client_id"),
        options.get("client_certificate_path"),
        options.get("federated_token_file"),
        options["authority_host"],
        bool(options.get("disable_instance_discovery")),
        options["timeout"],
        options["retries"],
        fingerprint,
    )


def shared_credential(options):
    """The process-wide SharedCredential for these options (built on first use)."""
    key = credential_key(options)
    with _LOCK:
        if key not in _SHARED:
            _SHARED[key] = SharedCredential(functools.partial(build_credential, options))
        return _SHARED[key]


def forget_credentials():
    """Drop every credential and its tokens: the next lookup asks Entra ID again."""
    with _LOCK:
        _SHARED.clear()


def _after_fork_in_child():
    """The child keeps each credential's tokens, but rebuilds the credential itself (its connections are shared)."""
    global _LOCK
    _LOCK = threading.Lock()
    for shared in _SHARED.values():
        shared.forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
