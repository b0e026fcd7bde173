"""The tailnet.llm.azure_keyvault lookup loaded by its FQCN, and guards that keep the Key Vault tests on loopback."""

import os
import socket
import sys

import pytest
from ansible.plugins.loader import init_plugin_loader, lookup_loader
from helpers import COLLECTIONS, REPO, free_port


@pytest.fixture(scope="session", autouse=True)
def _collection_loader():
    """Expose this checkout as tailnet.llm to Ansible's loaders (unless tests/unit's conftest already did)."""
    link = COLLECTIONS / "ansible_collections" / "tailnet" / "llm"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(REPO, link.parent))
    if not any(type(finder).__name__ == "_AnsibleCollectionFinder" for finder in sys.meta_path):
        init_plugin_loader([str(COLLECTIONS)])


@pytest.fixture
def lookup():
    return lookup_loader.get("tailnet.llm.azure_keyvault")


@pytest.fixture
def closed_port():
    """A loopback port nobody listens on."""
    return free_port()


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
