"""_azure_keyvault_credentials with a real certificate file, made by the local Key Vault server's helper
(tests/servers/kvserver.py, which the installed collection does not carry)."""

from ansible_collections.tailnet.llm.plugins.plugin_utils import _azure_keyvault_credentials as credentials
from kvserver import make_client_certificate

BASE = {"timeout": 5, "retries": 1, "authority_host": "https://login.microsoftonline.com"}


def test_service_principal_with_a_certificate(tmp_path):
    pem = tmp_path / "app.pem"
    make_client_certificate(pem)
    options = {**BASE, "auth": "service_principal", "tenant_id": "t", "client_id": "c"}
    built, described = credentials.build_credential({**options, "client_certificate_path": str(pem)})
    assert type(built).__name__ == "CertificateCredential"
    assert described == "auth=service_principal (client c)"
