"""A local Key Vault (kvserver.py) per test, and the tailnet.llm.azure_keyvault lookup loaded by its FQCN."""

import os
import pathlib
import socket
import sys

import pytest
from ansible.plugins.loader import init_plugin_loader, lookup_loader

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(HERE))

from kvserver import KeyVaultServer  # noqa: E402

CLIENT_SECRET = "test-client-secret-0123456789"
SECRETS = {
    "litellm-master-key": "sk-test-master-key-5f2b9c",
    "openai-api-key": "sk-openai-test-value-77aa",
    "hf-token": "hf_testtokenvalue1234567890",
    "templated": "{{ lookup('ansible.builtin.env', 'HOME') }}",
}
AZURE_VARIABLES = [name for name in os.environ if name.startswith(("AZURE_", "IDENTITY_", "MSI_"))]


@pytest.fixture(scope="session", autouse=True)
def _collection_loader():
    """Expose this checkout as tailnet.llm to Ansible's loaders (unless tests/unit's conftest already did)."""
    link = REPO / "build" / "collections" / "ansible_collections" / "tailnet" / "llm"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(REPO, link.parent))
    if not any(type(finder).__name__ == "_AnsibleCollectionFinder" for finder in sys.meta_path):
        init_plugin_loader([str(REPO / "build" / "collections")])


@pytest.fixture
def kv(monkeypatch):
    """A running local vault with a reader principal and SECRETS; trusted through REQUESTS_CA_BUNDLE."""
    from ansible_collections.tailnet.llm.plugins.plugin_utils import azure_keyvault

    for name in AZURE_VARIABLES:
        monkeypatch.delenv(name)
    with KeyVaultServer() as server:
        server.reader = server.add_principal(secret=CLIENT_SECRET)
        for name, value in SECRETS.items():
            server.set_secret(name, value)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_file)
        azure_keyvault.clear_cache()
        yield server
        azure_keyvault.clear_cache()


@pytest.fixture
def lookup():
    return lookup_loader.get("tailnet.llm.azure_keyvault")


@pytest.fixture
def sp(kv):
    """Lookup options for the reader service principal against the local vault and its Entra ID endpoint."""
    return {
        "vault_url": kv.url,
        "auth": "service_principal",
        "tenant_id": kv.tenant,
        "client_id": kv.reader.client_id,
        "client_secret": CLIENT_SECRET,
        "authority_host": kv.url,
        "disable_instance_discovery": True,
        "verify_challenge_resource": False,
        "retries": 0,
    }


@pytest.fixture
def closed_port():
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def loopback_only(monkeypatch):
    """Refuse (and record) every connection that is not to loopback: nothing may probe 169.254.169.254."""
    attempts = []
    connect = socket.socket.connect

    def guarded(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and "/" not in host and not (host.startswith("127.") or host == "::1"):
            attempts.append(host)
            raise ConnectionRefusedError(f"test: no connection to {host}")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return attempts
