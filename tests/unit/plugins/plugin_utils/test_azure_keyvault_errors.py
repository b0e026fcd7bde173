"""_azure_keyvault_errors: each SDK failure in one sentence that names the vault and the secret, never a value."""

import json

import pytest
import requests
from ansible_collections.tailnet.llm.plugins.plugin_utils import _azure_keyvault_errors as errors
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.identity import CredentialUnavailableError

VAULT = "https://kv-unit.vault.azure.net"
OPTIONS = {"timeout": 3, "retries": 1, "client_id": "c-123"}
AT = errors.Attempt(VAULT, "hf-token", "auth=cli (Azure CLI login)", OPTIONS)


class _Response:
    """What HttpResponseError reads of an HTTP answer."""

    def __init__(self, status, code=None, message="", inner=None):
        self.status_code, self.reason, self.request = status, "Reason", None
        self.headers = {"content-type": "application/json"}
        error = {"code": code, "message": message, **({"innererror": {"code": inner}} if inner else {})}
        self._body = json.dumps({"error": error} if code else {})

    def text(self, encoding=None):
        return self._body

    def body(self):
        return self._body.encode()


def _http(cls, status, code=None, message="", inner=None):
    return cls(response=_Response(status, code, message, inner))


def _caused_by(exc, cause):
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        pytest.param(
            _http(ResourceNotFoundError, 404, "SecretNotFound", "gone"),
            f"secret 'hf-token' not found in vault {VAULT} (HTTP 404): create it (az keyvault secret set "
            "--vault-name kv-unit --name hf-token --file VALUE_FILE), fix the name, or pass default= to the lookup",
            id="not-found",
        ),
        pytest.param(
            ClientAuthenticationError("AADSTS7000215: Invalid client secret provided."),
            f"could not get a token for vault {VAULT} with auth=cli (Azure CLI login): AADSTS7000215: Invalid "
            "client secret provided. Check or renew the client secret (or certificate) of client_id c-123",
            id="wrong-client-secret",
        ),
        pytest.param(
            ClientAuthenticationError("invalid_client"),
            "invalid_client. Check or renew the client secret",
            id="invalid-client",
        ),
        pytest.param(
            ClientAuthenticationError("AADSTS700016: no such app"),
            "Check client_id and tenant_id: the application is not registered in that tenant",
            id="unknown-client",
        ),
        pytest.param(
            ClientAuthenticationError("AADSTS90002: Tenant 'x' not found."),
            "Check tenant_id: the tenant does not exist",
            id="unknown-tenant",
        ),
        pytest.param(
            ClientAuthenticationError("... additionally_allowed_tenants ..."),
            "set tenant_id to the vault's tenant",
            id="other-tenant",
        ),
        pytest.param(
            CredentialUnavailableError("Azure CLI not found on path"),
            "Install the Azure CLI and run 'az login', or give a service principal (client_id, tenant_id and "
            "client_secret or client_certificate_path, or AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET)",
            id="no-az",
        ),
        pytest.param(
            CredentialUnavailableError("Please run 'az login' to set up an account."),
            "Please run 'az login' to set up an account. Log in with 'az login' (auth=cli), or give a service "
            "principal (client_id, tenant_id and client_secret or client_certificate_path, or AZURE_CLIENT_ID, "
            "AZURE_TENANT_ID, AZURE_CLIENT_SECRET), or choose auth=workload_identity / auth=managed_identity where "
            "they exist",
            id="not-logged-in",
        ),
        pytest.param(
            _caused_by(ClientAuthenticationError("failed"), requests.Timeout("slow")),
            f"timed out getting a token for vault {VAULT} with auth=cli (Azure CLI login) after 3 s",
            id="token-timeout",
        ),
        pytest.param(
            _http(ClientAuthenticationError, 401, "Unauthorized", "AKV10032: Invalid issuer."),
            f"vault {VAULT} rejected the token of auth=cli (Azure CLI login) for secret 'hf-token' (HTTP 401 "
            "Unauthorized: AKV10032: Invalid issuer.): the token is for another tenant or audience",
            id="token-rejected",
        ),
        pytest.param(
            _http(HttpResponseError, 403, "Forbidden", "Caller is not authorized", "ForbiddenByRbac"),
            f"access to secret 'hf-token' in vault {VAULT} is denied to auth=cli (Azure CLI login) (HTTP 403 "
            "Forbidden/ForbiddenByRbac): grant this identity the 'Key Vault Secrets User' role on the vault (or a "
            "'get' secret access policy), or log in as one that has it. Vault said: Caller is not authorized",
            id="forbidden",
        ),
        pytest.param(
            _http(HttpResponseError, 403, "Forbidden", "Operation get is not allowed on a disabled secret."),
            f"secret 'hf-token' in vault {VAULT} is disabled (HTTP 403): enable it or use another version",
            id="disabled",
        ),
        pytest.param(
            ServiceRequestError("Connection refused"),
            f"vault {VAULT} is unreachable for secret 'hf-token': Connection refused. Check vault_url, DNS",
            id="unreachable",
        ),
        pytest.param(
            ServiceResponseError("Read timed out. (read timeout=3)"),
            f"timed out after 3 s (retries=1) fetching secret 'hf-token' from vault {VAULT}",
            id="vault-timeout",
        ),
        pytest.param(
            _http(HttpResponseError, 500, "InternalError", "try later"),
            f"vault {VAULT} answered HTTP 500 InternalError for secret 'hf-token': try later",
            id="other-http",
        ),
        pytest.param(
            ValueError("The challenge resource 'https://x.net' does not match"),
            f"vault {VAULT} asked for a token of another resource (The challenge resource 'https://x.net' does not "
            "match); use the vault's https://NAME.vault.azure.net URL, or verify_challenge_resource=false",
            id="challenge-resource",
        ),
        pytest.param(
            RuntimeError("surprise"),
            f"unexpected RuntimeError fetching secret 'hf-token' from vault {VAULT}: surprise",
            id="unexpected",
        ),
    ],
)
def test_reason(exc, expected):
    assert expected in errors.reason(exc, AT)


def test_a_version_that_is_not_found_and_a_vault_without_a_name():
    at = errors.Attempt("https://127.0.0.1:8443", "hf-token/" + "a" * 32, "auth=cli (Azure CLI login)", OPTIONS)
    message = errors.reason(ResourceNotFoundError("gone"), at)
    assert message.startswith(f"version {'a' * 32} of secret 'hf-token' not found in vault https://127.0.0.1:8443")
    assert "--vault-name NAME --name hf-token" in message


def test_fetch_error_lists_every_failure_without_values():
    results = [
        ("fetched-value-1", None),
        (None, ServiceRequestError("Connection refused")),
        (None, RuntimeError("the answer echoed fetched-value-1 and the client secret s3cr3t-client")),
    ]
    options = {**OPTIONS, "client_secret": "s3cr3t-client"}
    error = errors.fetch_error(VAULT, ["a", "b", "c"], results, "auth=cli (Azure CLI login)", options)
    lines = str(error).splitlines()
    assert lines[0] == f"azure_keyvault: 2 of 3 secrets could not be fetched from {VAULT}:"
    assert lines[1].startswith(f"- vault {VAULT} is unreachable for secret 'b'")
    assert lines[2] == (
        f"- unexpected RuntimeError fetching secret 'c' from vault {VAULT}: "
        "the answer echoed ******** and the client secret ********"
    )
    assert len(lines) == 3


def test_one_reason_for_several_secrets_lists_them():
    down = RuntimeError("down")
    error = errors.fetch_error(VAULT, ["x", "x"], [(None, down), (None, down)], "auth=cli (Azure CLI login)", OPTIONS)
    assert (
        str(error).splitlines()[1] == f"- [x, x] unexpected RuntimeError fetching secret 'x' from vault {VAULT}: down"
    )
