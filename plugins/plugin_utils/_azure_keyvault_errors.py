# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the tailnet.llm.azure_keyvault lookup says when fetching secrets fails.

Internal to this collection (like the other `_azure_keyvault_*` modules): the interfaces may change in any release.

Each SDK exception becomes one sentence that names the vault and the secret and says what to do; one
AnsibleError lists every secret that failed, and never carries a secret value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ansible.errors import AnsibleError

try:
    import requests
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )
    from azure.identity import CredentialUnavailableError
except ImportError as exc:
    IMPORT_ERROR = exc
else:
    IMPORT_ERROR = None

_GIVE_SERVICE_PRINCIPAL = (
    "give a service principal (client_id, tenant_id and client_secret or client_certificate_path, or "
    "AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET)"
)
# What Entra ID's (or the Azure CLI's) answer contains -> what to do about it. The first match wins.
_TOKEN_HINTS = (
    (
        ("AADSTS7000215", "AADSTS7000222", "invalid_client"),
        "Check or renew the client secret (or certificate) of client_id {client_id}",
    ),
    (("AADSTS700016",), "Check client_id and tenant_id: the application is not registered in that tenant"),
    (("AADSTS90002",), "Check tenant_id: the tenant does not exist"),
    (
        ("additionally_allowed_tenants",),
        "The vault belongs to another tenant than the credential: set tenant_id to the vault's tenant",
    ),
    (("Azure CLI not found",), f"Install the Azure CLI and run 'az login', or {_GIVE_SERVICE_PRINCIPAL}"),
)
_TOKEN_HINT_OTHERWISE = (
    f"Log in with 'az login' (auth=cli), or {_GIVE_SERVICE_PRINCIPAL}, "
    "or choose auth=workload_identity / auth=managed_identity where they exist"
)


@dataclass(frozen=True)
class Attempt:
    """One secret fetched from one vault: what an error message names."""

    vault: str
    secret: str  # the term: name or name/version
    credential: str  # how the credential describes itself, e.g. "auth=cli (Azure CLI login)"
    options: dict


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


def _vault_error(exc):
    """(code, inner code, message) of the error body the vault sent with an HTTP error."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or exc.reason
    inner = getattr(getattr(error, "innererror", None), "get", lambda _k: None)("code") or ""
    return code, inner, _one_line(getattr(error, "message", None) or exc.message, 300)


def _is_token_failure(exc):
    # A ClientAuthenticationError with a status code is the vault refusing a token, not a failure to get one.
    return isinstance(exc, CredentialUnavailableError) or (
        isinstance(exc, ClientAuthenticationError) and getattr(exc, "status_code", None) is None
    )


def _is_refused(exc):
    return isinstance(exc, HttpResponseError) and exc.status_code in (401, 403)


def _is_challenge_mismatch(exc):
    return isinstance(exc, ValueError) and "challenge resource" in str(exc)


def _not_found(exc, at):
    host = urlsplit(at.vault).hostname
    vault_name = "NAME" if re.match(r"^[0-9.]+$|:", host) else host.split(".")[0]
    name, _slash, version = at.secret.partition("/")
    what = f"version {version} of secret '{name}'" if version else f"secret '{name}'"
    return (
        f"{what} not found in vault {at.vault} (HTTP 404): create it (az keyvault secret set --vault-name "
        f"{vault_name} --name {name} --file VALUE_FILE), fix the name, or pass default= to the lookup"
    )


def _no_token(exc, at):
    if _is_timeout(exc):
        return (
            f"timed out getting a token for vault {at.vault} with {at.credential} "
            f"after {at.options['timeout']} s: raise timeout= or check the network to Entra ID"
        )
    detail = _one_line(getattr(exc, "message", None) or exc, 300).rstrip(".")
    hint = next(
        (hint for needles, hint in _TOKEN_HINTS if any(needle in detail for needle in needles)),
        _TOKEN_HINT_OTHERWISE,
    )
    hint = hint.format(client_id=at.options.get("client_id"))
    return f"could not get a token for vault {at.vault} with {at.credential}: {detail}. {hint}"


def _refused(exc, at):
    code, inner, message = _vault_error(exc)
    if inner == "SecretDisabled" or "disabled secret" in message:
        return f"secret '{at.secret}' in vault {at.vault} is disabled (HTTP 403): enable it or use another version"
    if exc.status_code == 401:
        return (
            f"vault {at.vault} rejected the token of {at.credential} for secret '{at.secret}' (HTTP 401 {code}: "
            f"{message}): the token is for another tenant or audience; check tenant_id and the vault URL"
        )
    return (
        f"access to secret '{at.secret}' in vault {at.vault} is denied to {at.credential} (HTTP 403 {code}"
        f"{'/' + inner if inner else ''}): grant this identity the 'Key Vault Secrets User' role on the vault "
        f"(or a 'get' secret access policy), or log in as one that has it. Vault said: {message}"
    )


def _unreachable(exc, at):
    if _is_timeout(exc):
        return (
            f"timed out after {at.options['timeout']} s (retries={at.options['retries']}) fetching secret "
            f"'{at.secret}' from vault {at.vault}: the vault or the network is slow; raise timeout= or check the "
            "connection"
        )
    return (
        f"vault {at.vault} is unreachable for secret '{at.secret}': {_one_line(exc.message, 200)}. Check vault_url, "
        "DNS, the network or VPN, and the vault's firewall / private endpoint"
    )


def _http_error(exc, at):
    code, _inner, message = _vault_error(exc)
    return f"vault {at.vault} answered HTTP {exc.status_code} {code} for secret '{at.secret}': {message}"


def _challenge_mismatch(exc, at):
    return (
        f"vault {at.vault} asked for a token of another resource ({_one_line(exc, 200)}); use the vault's "
        "https://NAME.vault.azure.net URL, or verify_challenge_resource=false for a private endpoint name"
    )


def _unexpected(exc, at):
    return f"unexpected {type(exc).__name__} fetching secret '{at.secret}' from vault {at.vault}: {_one_line(exc, 300)}"


# (is it this kind of failure, explain it), most specific first: the SDK's exceptions subclass each other
# (ResourceNotFoundError and ClientAuthenticationError are HttpResponseErrors).
_EXPLAIN = (
    (lambda exc: isinstance(exc, ResourceNotFoundError), _not_found),
    (_is_token_failure, _no_token),
    (_is_refused, _refused),
    (lambda exc: isinstance(exc, (ServiceRequestError, ServiceResponseError)), _unreachable),
    (lambda exc: isinstance(exc, HttpResponseError), _http_error),
    (_is_challenge_mismatch, _challenge_mismatch),
)


def reason(exc, at):
    """One sentence saying what went wrong fetching at.secret from at.vault, and what to do."""
    explain = next((explain for matches, explain in _EXPLAIN if matches(exc)), _unexpected)
    return explain(exc, at)


def _scrub(text, secrets):
    for value in secrets:
        if value and len(value) >= 4:
            text = text.replace(value, "********")
    return text


def fetch_error(vault, terms, results, credential, options):
    """One AnsibleError for a lookup call: every term that failed, grouped by reason, with no secret value.

    results: (value, exception or None) per term, in the order of `terms`.
    """
    failures = {}
    for term, (_value, exc) in zip(terms, results):
        if exc is not None:
            failures.setdefault(reason(exc, Attempt(vault, term, credential, options)), []).append(term)
    known = [value for value, _exc in results if isinstance(value, str)]
    known += [options.get("client_secret") or "", options.get("client_certificate_password") or ""]
    failed = sum(len(names) for names in failures.values())
    lines = [f"azure_keyvault: {failed} of {len(terms)} secrets could not be fetched from {vault}:"]
    for why, names in failures.items():
        prefix = f"[{', '.join(names)}] " if len(names) > 1 else ""
        lines.append(f"- {prefix}{why}")
    return AnsibleError(_scrub("\n".join(lines), known))
