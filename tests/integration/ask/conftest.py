"""One loopback gateway per test session: the real LiteLLM proxy in front of llama.cpp serving
SmolLM2-135M (tests/servers/loopback.py; `make test-servers` builds their venvs)."""

import ask_process
import loopback
import pytest


@pytest.fixture(scope="session")
def ask_gateway(tmp_path_factory):
    """The running gateway: .url, .api_key (master key), .backend_url (llama.cpp, no key), .models."""
    with loopback.gateway(tmp_path_factory.mktemp("gateway")) as gateway:
        yield gateway


@pytest.fixture
def ask_env(ask_gateway, tmp_path):
    """Environment for `ask` pointed at the gateway with a valid key, and a private HOME."""
    return ask_process.clean_env(tmp_path, ASK_BASE_URL=ask_gateway.url, ASK_API_KEY=ask_gateway.api_key)
