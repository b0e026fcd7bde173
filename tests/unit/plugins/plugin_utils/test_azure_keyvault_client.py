"""_azure_keyvault_client: every term fetched through one client, in order, concurrently; one error for all.

A stand-in SecretClient answers here; the real SDK against a local vault runs in tests/integration/keyvault.
"""

import threading
import time
from types import SimpleNamespace

import pytest
from ansible.errors import AnsibleError
from ansible_collections.tailnet.llm.plugins.plugin_utils import _azure_keyvault_client as client_module
from azure.core.exceptions import ResourceNotFoundError

VALUES = {"a": "value-a", "b": "value-b", ("b", "0" * 32): "old-b"}
OPTIONS = {
    "vault_url": "https://kv-unit.vault.azure.net",
    "auth": "cli",
    "timeout": 1,
    "retries": 0,
    "max_concurrency": 4,
    "authority_host": "https://login.microsoftonline.com",
    "verify_challenge_resource": True,
}


class _Client:
    """Answers get_secret from VALUES after `delay` seconds, and records how many calls ran at once."""

    def __init__(self, delay=0.0):
        self.delay, self.running, self.most = delay, 0, 0
        self._lock = threading.Lock()

    def get_secret(self, name, version=None):
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(self.delay)
        with self._lock:
            self.running -= 1
        value = VALUES.get((name, version) if version else name)
        if value is None:
            raise ResourceNotFoundError(f"{name} not found")
        return SimpleNamespace(value=value)


@pytest.fixture
def client(monkeypatch):
    fake = _Client()
    credential = SimpleNamespace(describe="auth=cli (Azure CLI login)")
    monkeypatch.setattr(client_module, "get_client", lambda vault, options: (fake, credential))
    return fake


def test_values_in_the_order_of_the_terms(client):
    terms = ["b", "a", "b/" + "0" * 32]
    assert client_module.fetch_secrets(terms, OPTIONS) == ["value-b", "value-a", "old-b"]


def test_fetched_concurrently_up_to_max_concurrency(client):
    client.delay = 0.1
    client_module.fetch_secrets(["a"] * 10, OPTIONS)
    assert client.most == OPTIONS["max_concurrency"]
    client.most = 0
    client_module.fetch_secrets(["a"] * 3, {**OPTIONS, "max_concurrency": 1})
    assert client.most == 1


def test_default_only_for_missing_secrets(client):
    assert client_module.fetch_secrets(["missing", "a"], OPTIONS, default=None) == [None, "value-a"]
    with pytest.raises(AnsibleError, match=r"1 of 2 secrets could not be fetched[\s\S]*secret 'missing' not found"):
        client_module.fetch_secrets(["missing", "a"], OPTIONS)


def test_no_terms_no_client(monkeypatch):
    monkeypatch.setattr(client_module, "get_client", lambda vault, options: pytest.fail("a client was built"))
    assert client_module.fetch_secrets([], OPTIONS) == []
