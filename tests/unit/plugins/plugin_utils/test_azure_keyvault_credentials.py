"""_azure_keyvault_credentials: which credential each auth setting builds, and how tokens are shared."""

import time

import pytest
from ansible.errors import AnsibleError
from ansible_collections.tailnet.llm.plugins.plugin_utils import _azure_keyvault_credentials as credentials
from azure.core.credentials import AccessToken, AccessTokenInfo

BASE = {"timeout": 5, "retries": 1, "authority_host": "https://login.microsoftonline.com"}
SP = {"tenant_id": "t", "client_id": "c", "client_secret": "unit-client-secret"}


@pytest.mark.parametrize(
    ("options", "credential", "description"),
    [
        pytest.param({"auth": "cli"}, "AzureCliCredential", "auth=cli (Azure CLI login)", id="cli"),
        pytest.param(
            {"auth": "service_principal", **SP},
            "ClientSecretCredential",
            "auth=service_principal (client c)",
            id="sp-secret",
        ),
        pytest.param(
            {"auth": "workload_identity", "tenant_id": "t", "client_id": "c", "federated_token_file": "/tmp/token"},
            "WorkloadIdentityCredential",
            "auth=workload_identity (client c)",
            id="workload-identity",
        ),
        pytest.param(
            {"auth": "managed_identity"},
            "ManagedIdentityCredential",
            "auth=managed_identity (system-assigned)",
            id="managed-identity-system",
        ),
        pytest.param(
            {"auth": "managed_identity", "client_id": "c"},
            "ManagedIdentityCredential",
            "auth=managed_identity (client c)",
            id="managed-identity-user",
        ),
        pytest.param({"auth": "auto"}, "AzureCliCredential", "auth=auto (Azure CLI login)", id="auto-cli"),
        pytest.param(
            {"auth": "auto", **SP},
            "ChainedTokenCredential",
            "auth=auto (service principal c, then Azure CLI login)",
            id="auto-sp",
        ),
        pytest.param(
            {"auth": "auto", "tenant_id": "t", "client_id": "c", "federated_token_file": "/tmp/token"},
            "ChainedTokenCredential",
            "auth=auto (workload identity c, then Azure CLI login)",
            id="auto-workload-identity",
        ),
    ],
)
def test_build_credential(options, credential, description):
    built, described = credentials.build_credential({**BASE, **options})
    assert type(built).__name__ == credential
    assert described == description


def test_auto_never_uses_managed_identity():
    built, _described = credentials.build_credential({**BASE, "auth": "auto", "client_id": "c"})
    assert type(built).__name__ == "AzureCliCredential"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param(
            {"auth": "service_principal"},
            "auth=service_principal needs tenant_id, client_id, client_secret or client_certificate_path (options, "
            "or AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET / AZURE_CLIENT_CERTIFICATE_PATH)",
            id="service-principal",
        ),
        pytest.param(
            {"auth": "workload_identity", "client_id": "c"},
            "auth=workload_identity needs tenant_id, federated_token_file (options, or AZURE_TENANT_ID, "
            "AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE)",
            id="workload-identity",
        ),
    ],
)
def test_missing_options_are_named(options, message):
    with pytest.raises(AnsibleError) as caught:
        credentials.build_credential({**BASE, **options})
    assert str(caught.value) == f"azure_keyvault: {message}"


def test_credential_key_holds_secrets_only_as_a_hash():
    key = credentials.credential_key({**BASE, "auth": "service_principal", **SP})
    assert "unit-client-secret" not in repr(key)
    other = credentials.credential_key({**BASE, "auth": "service_principal", **SP, "client_secret": "another"})
    assert key != other


class _Inner:
    """A credential that counts the tokens it hands out; each lives `lifetime` seconds."""

    def __init__(self, lifetime=3600):
        self.lifetime = lifetime
        self.issued = 0

    def get_token_info(self, *scopes, options=None):
        self.issued += 1
        return AccessTokenInfo(f"token-{self.issued}", int(time.time()) + self.lifetime)


def _shared(inner):
    built = []

    def build():
        built.append(inner)
        return inner, "auth=test (unit)"

    return credentials.SharedCredential(build), built


def test_one_token_per_scope_until_due_for_refresh():
    inner = _Inner()
    shared, _built = _shared(inner)
    first = shared.get_token_info("https://vault.azure.net/.default")
    assert shared.get_token_info("https://vault.azure.net/.default") is first
    assert shared.get_token("https://vault.azure.net/.default").token == first.token
    shared.get_token_info("https://other/.default")
    shared.get_token_info("https://vault.azure.net/.default", options={"claims": "{}"})
    assert (inner.issued, shared.requests) == (3, 3)
    assert shared.describe == "auth=test (unit)"


def test_a_token_close_to_expiry_is_renewed():
    inner = _Inner(lifetime=credentials.REFRESH_MARGIN - 10)
    shared, _built = _shared(inner)
    shared.get_token_info("scope")
    shared.get_token_info("scope")
    assert inner.issued == 2


def test_a_forked_child_keeps_tokens_and_rebuilds_the_credential():
    inner = _Inner()
    shared, built = _shared(inner)
    token = shared.get_token_info("scope")
    shared.forked()
    assert shared.get_token_info("scope") is token
    assert len(built) == 1, "a fresh token needs no credential"
    shared.get_token_info("scope", options={"claims": "{}"})
    assert len(built) == 2


def test_a_credential_without_get_token_info():
    class Legacy:
        def get_token(self, *scopes, claims=None, tenant_id=None, enable_cae=False):
            return AccessToken("legacy-token", int(time.time()) + 3600)

    shared = credentials.SharedCredential(lambda: (Legacy(), "auth=test (legacy)"))
    token = shared.get_token_info("scope")
    assert isinstance(token, AccessTokenInfo)
    assert token.token == "legacy-token"


def test_shared_credential_is_one_per_setting():
    options = {**BASE, "auth": "cli"}
    try:
        assert credentials.shared_credential(options) is credentials.shared_credential(dict(options))
        assert credentials.shared_credential({**options, "tenant_id": "t"}) is not credentials.shared_credential(
            options
        )
    finally:
        credentials.forget_credentials()
