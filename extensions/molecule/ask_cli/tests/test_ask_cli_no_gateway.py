"""This scenario has no gateway: `ask`, run from a login shell, must name the URL the role set
and exit 3, for a user with the shared key, one without a key and one with her own, and never show a key."""

import pytest

testinfra_hosts = ["ansible://llm_clients"]


@pytest.mark.parametrize("user", ["alice", "bob", "carol"])
@pytest.mark.parametrize("args", ["--list-models", "'What is the capital of France?'"])
def test_unreachable_gateway(login_shell, settings, user, args):
    result = login_shell(user, f"ask {args}")
    assert result.rc == 3
    assert result.stdout == ""
    assert result.stderr == f"ask: cannot reach the gateway at {settings['ask_cli_base_url']}: Connection refused\n"
