# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fetch secrets from Azure Key Vault for the tailnet.llm.azure_keyvault lookup.

One credential per authentication setting and one SecretClient per vault live as long as the process:
later lookups in the same process reuse the token (no request to Entra ID) and the open connections.
A lookup call fetches all its terms concurrently through that one client. Errors name the vault and
the secret, say what to do, and never carry a secret value.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from ansible.errors import AnsibleError

try:
    import requests
    from azure.core.credentials import AccessTokenInfo
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )
    from azure.core.pipeline.transport import RequestsTransport
    from azure.identity import (
        AzureCliCredential,
        CertificateCredential,
        ChainedTokenCredential,
        ClientSecretCredential,
        CredentialUnavailableError,
        ManagedIdentityCredential,
        WorkloadIdentityCredential,
    )
    from azure.keyvault.secrets import SecretClient
except ImportError as exc:
    IMPORT_ERROR = exc
else:
    IMPORT_ERROR = None

# azure-identity logs every failed attempt as a WARNING; without a handler Python prints those to stderr.
# The lookup's AnsibleError says the same thing once, so keep the SDK quiet unless logging is configured.
if not logging.getLogger("azure").handlers:
    logging.getLogger("azure").addHandler(logging.NullHandler())

AUTH_METHODS = ("auto", "cli", "service_principal", "workload_identity", "managed_identity")
_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")
_VERSION = re.compile(r"^[0-9A-Fa-f]{32}$")
_MISSING = object()

# Credentials by authentication setting and clients by vault, for the life of the process.
_CREDENTIALS = {}
_CLIENTS = {}
_CACHE_LOCK = threading.Lock()


def _after_fork_in_child():
    """Ansible forks a worker per task: a child must not use the parent's connections, but may keep its tokens.

    The parent's clients and credentials hold pooled TLS connections; two processes writing to one TLS
    connection corrupt it. The child forgets the clients (without closing the parent's sockets) and rebuilds
    each credential on first use, keeping the tokens the parent already has.
    """
    global _CACHE_LOCK
    _CACHE_LOCK = threading.Lock()
    _CLIENTS.clear()
    for shared in _CREDENTIALS.values():
        shared.forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def parse_term(term):
    """Split 'name' or 'name/version' into (name, version or None); raise AnsibleError on a bad term."""
    if not isinstance(term, str):
        raise AnsibleError(
            f"azure_keyvault: term {term!r} is a {type(term).__name__}: pass secret names as strings, "
            "'name' or 'name/version'"
        )
    name, _, version = term.partition("/")
    if not _NAME.match(name) or (version and not _VERSION.match(version)) or term.endswith("/"):
        raise AnsibleError(
            f"azure_keyvault: {term!r} is not a secret name: Key Vault names are 1-127 letters, digits and "
            "dashes, optionally followed by '/' and a 32-character hexadecimal version"
        )
    return name, version or None


def check_vault_url(url):
    """Return the vault URL without a trailing slash; raise AnsibleError unless it is an https URL of a vault."""
    if not url:
        raise AnsibleError(
            "azure_keyvault: no vault_url: pass vault_url=https://NAME.vault.azure.net, or set the variable "
            "azure_keyvault_url, the environment variable AZURE_KEYVAULT_URL or [azure_keyvault] vault_url "
            "in ansible.cfg"
        )
    parts = urlsplit(str(url))
    if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/") or parts.query:
        raise AnsibleError(
            f"azure_keyvault: vault_url {url!r} is not a vault URL: it must look like https://NAME.vault.azure.net "
            "(https, no path)"
        )
    return f"https://{parts.netloc}"


class _SharedCredential:
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

    def get_token_info(self, *scopes, options=None):
        options = dict(options or {})
        key = (scopes, options.get("tenant_id"), bool(options.get("enable_cae")))
        with self._lock:
            token = self._tokens.get(key)
            now = time.time()
            fresh = token and token.expires_on - now > 300 and not (token.refresh_on and token.refresh_on <= now)
            if options.get("claims") or not fresh:
                self.requests += 1
                if self.credential is None:
                    self.credential = self._build()[0]
                if hasattr(self.credential, "get_token_info"):
                    token = self.credential.get_token_info(*scopes, options=options)
                else:
                    legacy = self.credential.get_token(
                        *scopes,
                        claims=options.get("claims"),
                        tenant_id=options.get("tenant_id"),
                        enable_cae=bool(options.get("enable_cae")),
                    )
                    token = AccessTokenInfo(legacy.token, legacy.expires_on)
                self._tokens[key] = token
            return token

    def get_token(self, *scopes, claims=None, tenant_id=None, enable_cae=False, **kwargs):
        options = {"enable_cae": enable_cae}
        if claims:
            options["claims"] = claims
        if tenant_id:
            options["tenant_id"] = tenant_id
        return self.get_token_info(*scopes, options=options)


def _transport_kwargs(options):
    return {
        "connection_timeout": options["timeout"],
        "read_timeout": options["timeout"],
        "retry_total": options["retries"],
    }


def _build_credential(options):
    """Return (credential, description) for the auth setting; never a managed identity unless asked."""
    auth = options["auth"]
    tenant, client_id = options.get("tenant_id"), options.get("client_id")
    secret, cert = options.get("client_secret"), options.get("client_certificate_path")
    token_file = options.get("federated_token_file")
    common = dict(_transport_kwargs(options), authority=options["authority_host"])
    if options.get("disable_instance_discovery"):
        common["disable_instance_discovery"] = True

    def service_principal():
        missing = [n for n, v in (("tenant_id", tenant), ("client_id", client_id)) if not v]
        if not (secret or cert):
            missing.append("client_secret or client_certificate_path")
        if missing:
            raise AnsibleError(
                f"azure_keyvault: auth=service_principal needs {', '.join(missing)} (options, or AZURE_TENANT_ID, "
                "AZURE_CLIENT_ID, AZURE_CLIENT_SECRET / AZURE_CLIENT_CERTIFICATE_PATH)"
            )
        if secret:
            return ClientSecretCredential(tenant, client_id, secret, **common)
        return CertificateCredential(
            tenant, client_id, cert, password=options.get("client_certificate_password"), **common
        )

    def workload_identity():
        missing = [
            n
            for n, v in (("tenant_id", tenant), ("client_id", client_id), ("federated_token_file", token_file))
            if not v
        ]
        if missing:
            raise AnsibleError(
                f"azure_keyvault: auth=workload_identity needs {', '.join(missing)} (options, or AZURE_TENANT_ID, "
                "AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE)"
            )
        return WorkloadIdentityCredential(tenant_id=tenant, client_id=client_id, token_file_path=token_file, **common)

    def cli():
        return AzureCliCredential(tenant_id=tenant or "", process_timeout=options["timeout"])

    if auth == "cli":
        return cli(), "auth=cli (Azure CLI login)"
    if auth == "service_principal":
        return service_principal(), f"auth=service_principal (client {client_id})"
    if auth == "workload_identity":
        return workload_identity(), f"auth=workload_identity (client {client_id})"
    if auth == "managed_identity":
        credential = ManagedIdentityCredential(client_id=client_id or None, **_transport_kwargs(options))
        return credential, f"auth=managed_identity ({'client ' + client_id if client_id else 'system-assigned'})"
    # auto: what is configured, then the Azure CLI login; never the managed identity endpoint.
    chain, names = [], []
    if client_id and (secret or cert):
        chain.append(service_principal())
        names.append(f"service principal {client_id}")
    elif client_id and token_file:
        chain.append(workload_identity())
        names.append(f"workload identity {client_id}")
    chain.append(cli())
    names.append("Azure CLI login")
    credential = chain[0] if len(chain) == 1 else ChainedTokenCredential(*chain)
    return credential, f"auth=auto ({', then '.join(names)})"


def _credential_key(options):
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


def get_client(vault, options):
    """The process-wide (client, credential) for this vault and these options (built on first use)."""
    key = _credential_key(options)
    client_key = (vault, key, options["verify_challenge_resource"], options["max_concurrency"])
    with _CACHE_LOCK:
        if key not in _CREDENTIALS:
            _CREDENTIALS[key] = _SharedCredential(lambda: _build_credential(options))
        credential = _CREDENTIALS[key]
        if client_key not in _CLIENTS:
            # Proxies and the CA bundle come from the environment as usual, but are read once here
            # instead of on every request (requests scans the whole environment each time).
            session = requests.Session()
            session.trust_env = False
            session.proxies = requests.utils.get_environ_proxies(vault)
            adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=options["max_concurrency"])
            session.mount("https://", adapter)
            ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            transport = RequestsTransport(
                session=session,
                session_owner=True,
                connection_verify=ca_bundle,
                connection_timeout=options["timeout"],
                read_timeout=options["timeout"],
            )
            _CLIENTS[client_key] = SecretClient(
                vault,
                credential,
                verify_challenge_resource=options["verify_challenge_resource"],
                transport=transport,
                **_transport_kwargs(options),
            )
        return _CLIENTS[client_key], credential


def clear_cache():
    """Close the cached clients and forget the credentials and their tokens (a cold start, for tests)."""
    with _CACHE_LOCK:
        for client in _CLIENTS.values():
            client.close()
        _CLIENTS.clear()
        _CREDENTIALS.clear()


def _one_line(text, limit=400):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_timeout(exc):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (TimeoutError, requests.Timeout)) or "timed out" in str(exc).lower():
            return True
        exc = getattr(exc, "inner_exception", None) or exc.__cause__ or exc.__context__
    return False


def _reason(exc, vault, secret, credential, options):
    """One sentence saying what went wrong and what to do."""
    host = urlsplit(vault).hostname
    vault_name = "NAME" if re.match(r"^[0-9.]+$|:", host) else host.split(".")[0]
    if isinstance(exc, ResourceNotFoundError):
        name, _, version = secret.partition("/")
        what = f"version {version} of secret '{name}'" if version else f"secret '{name}'"
        return (
            f"{what} not found in vault {vault} (HTTP 404): create it (az keyvault secret set --vault-name "
            f"{vault_name} --name {name} --file VALUE_FILE), fix the name, or pass default= to the lookup"
        )
    if isinstance(exc, CredentialUnavailableError) or (
        isinstance(exc, ClientAuthenticationError) and getattr(exc, "status_code", None) is None
    ):
        if _is_timeout(exc):
            return (
                f"timed out getting a token for vault {vault} with {credential.describe} "
                f"after {options['timeout']} s: raise timeout= or check the network to Entra ID"
            )
        detail = _one_line(getattr(exc, "message", None) or exc, 300).rstrip(".")
        base = f"could not get a token for vault {vault} with {credential.describe}: {detail}."
        if "AADSTS7000215" in detail or "AADSTS7000222" in detail or "invalid_client" in detail:
            return f"{base} Check or renew the client secret (or certificate) of client_id {options.get('client_id')}"
        if "AADSTS700016" in detail:
            return f"{base} Check client_id and tenant_id: the application is not registered in that tenant"
        if "AADSTS90002" in detail:
            return f"{base} Check tenant_id: the tenant does not exist"
        if "additionally_allowed_tenants" in detail:
            return (
                f"{base} The vault belongs to another tenant than the credential: set tenant_id to the vault's tenant"
            )
        if "Azure CLI not found" in detail:
            return (
                f"{base} Install the Azure CLI and run 'az login', or give a service principal (client_id, "
                "tenant_id and client_secret or client_certificate_path, or AZURE_CLIENT_ID, AZURE_TENANT_ID, "
                "AZURE_CLIENT_SECRET)"
            )
        return (
            f"{base} Log in with 'az login' (auth=cli), or give a service principal (client_id, tenant_id and "
            "client_secret or client_certificate_path, or AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET), "
            "or choose auth=workload_identity / auth=managed_identity where they exist"
        )
    if isinstance(exc, HttpResponseError) and exc.status_code in (401, 403):
        error = getattr(exc, "error", None)
        code = getattr(error, "code", None) or exc.reason
        inner = getattr(getattr(error, "innererror", None), "get", lambda _k: None)("code") or ""
        message = _one_line(getattr(error, "message", None) or exc.message, 300)
        if inner == "SecretDisabled" or "disabled secret" in message:
            return f"secret '{secret}' in vault {vault} is disabled (HTTP 403): enable it or use another version"
        if exc.status_code == 401:
            return (
                f"vault {vault} rejected the token of {credential.describe} for secret '{secret}' (HTTP 401 {code}: "
                f"{message}): the token is for another tenant or audience; check tenant_id and the vault URL"
            )
        return (
            f"access to secret '{secret}' in vault {vault} is denied to {credential.describe} (HTTP 403 {code}"
            f"{'/' + inner if inner else ''}): grant this identity the 'Key Vault Secrets User' role on the vault "
            f"(or a 'get' secret access policy), or log in as one that has it. Vault said: {message}"
        )
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        if _is_timeout(exc):
            return (
                f"timed out after {options['timeout']} s (retries={options['retries']}) fetching secret '{secret}' "
                f"from vault {vault}: the vault or the network is slow; raise timeout= or check the connection"
            )
        return (
            f"vault {vault} is unreachable for secret '{secret}': {_one_line(exc.message, 200)}. Check vault_url, "
            "DNS, the network or VPN, and the vault's firewall / private endpoint"
        )
    if isinstance(exc, HttpResponseError):
        error = getattr(exc, "error", None)
        code = getattr(error, "code", None) or exc.reason
        return (
            f"vault {vault} answered HTTP {exc.status_code} {code} for secret '{secret}': "
            f"{_one_line(getattr(error, 'message', None) or exc.message, 300)}"
        )
    if isinstance(exc, ValueError) and "challenge resource" in str(exc):
        return (
            f"vault {vault} asked for a token of another resource ({_one_line(exc, 200)}); use the vault's "
            "https://NAME.vault.azure.net URL, or verify_challenge_resource=false for a private endpoint name"
        )
    return f"unexpected {type(exc).__name__} fetching secret '{secret}' from vault {vault}: {_one_line(exc, 300)}"


def _scrub(text, secrets):
    for value in secrets:
        if value and len(value) >= 4:
            text = text.replace(value, "********")
    return text


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
    if options["auth"] not in AUTH_METHODS:
        raise AnsibleError(f"azure_keyvault: auth={options['auth']!r} is not one of {', '.join(AUTH_METHODS)}")
    for name, low in (("max_concurrency", 1), ("retries", 0)):
        if options[name] < low:
            raise AnsibleError(f"azure_keyvault: {name}={options[name]} must be at least {low}")
    if not options["timeout"] > 0:
        raise AnsibleError(f"azure_keyvault: timeout={options['timeout']} must be more than 0 seconds")
    vault = check_vault_url(options.get("vault_url"))
    parsed = [parse_term(term) for term in terms]
    if not parsed:
        return []
    client, credential = get_client(vault, options)
    workers = min(len(parsed), options["max_concurrency"])

    def fetch(item):
        name, version = item
        try:
            return client.get_secret(name, version).value, None
        except ResourceNotFoundError as exc:
            if default is not _MISSING:
                return default, None
            return None, exc
        except Exception as exc:  # every failure becomes a line of the AnsibleError below
            return None, exc

    if workers == 1:
        results = [fetch(item) for item in parsed]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="azure_keyvault") as pool:
            results = list(pool.map(fetch, parsed))

    failures = {}
    for term, (_value, exc) in zip(terms, results):
        if exc is not None:
            failures.setdefault(_reason(exc, vault, term, credential, options), []).append(term)
    if failures:
        known = [v for v, _e in results if isinstance(v, str)]
        known += [options.get("client_secret") or "", options.get("client_certificate_password") or ""]
        failed = sum(len(t) for t in failures.values())
        lines = [f"azure_keyvault: {failed} of {len(terms)} secrets could not be fetched from {vault}:"]
        for reason, names in failures.items():
            prefix = f"[{', '.join(names)}] " if len(names) > 1 else ""
            lines.append(f"- {prefix}{reason}")
        raise AnsibleError(_scrub("\n".join(lines), known))
    return [value for value, _exc in results]
