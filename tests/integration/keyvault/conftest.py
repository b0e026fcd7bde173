"""The tailnet.llm.azure_keyvault lookup loaded by its FQCN, and guards that keep the Key Vault tests on loopback."""

import socket

import pytest
from ansible.plugins.loader import lookup_loader
from helpers import free_port


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
