"""A key per client, checked by the collection's auth hook in the real LiteLLM proxy.

The proxy runs on loopback (build/venvs/litellm, the release the gateways run) with config.yaml, clients.json
and tailnet_auth.py rendered by the litellm role's own templates, in front of an instant OpenAI-compatible
backend (tests/servers/fast_openai.py). Each client's key works for its models only, within its requests per
minute; a key the inventory no longer lists is refused; the master key still works; the proxy's log names the
client, never its key.
"""

import http.client
import json
import os
import secrets
import sys

import helpers
import loopback
import pytest
from ansible_collections.tailnet.llm.plugins.plugin_utils.clients import gateway_clients

MASTER = "sk-master-" + secrets.token_hex(8)
KEYS = {name: f"sk-{name}-" + secrets.token_hex(8) for name in ("motoko", "armitage", "limited", "revoked")}
RPM = 3


HOSTVARS = {
    "motoko": {"llm_client_key": KEYS["motoko"]},
    "armitage": {"llm_client_key": KEYS["armitage"], "llm_client_models": ["lab/allowed"]},
    "limited": {"llm_client_key": KEYS["limited"], "llm_client_rpm": RPM},
    "revoked": {"llm_client_key": KEYS["revoked"]},
}


def _variables(port, revoked):
    backends = [
        {"name": "fast", "host": "127.0.0.1", "port": port, "models": [{"id": "m", "alias": "lab/allowed"}]},
        {"name": "fast-2", "host": "127.0.0.1", "port": port, "models": [{"id": "m", "alias": "lab/other"}]},
    ]
    return {
        "litellm_backends": backends,
        "litellm_clients": gateway_clients({"llm_clients": list(HOSTVARS)}, HOSTVARS, revoked=revoked),
        "litellm_env_secrets": {"LITELLM_MASTER_KEY": MASTER},
    }


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    """(the proxy's port, its log, its project directory, the backend's port)"""
    workdir = tmp_path_factory.mktemp("clients")
    port = helpers.free_port()
    fast = [sys.executable, str(helpers.REPO / "tests/servers/fast_openai.py"), "--port", str(port), "--model", "m"]
    helpers.gateway_files(_variables(port, ["revoked"]), workdir)
    proxy_port = helpers.free_port()
    argv = [loopback.venv_bin("litellm", "litellm"), "--config", str(workdir / "config.yaml"), "--host", "127.0.0.1"]
    env = {"LITELLM_MASTER_KEY": MASTER, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    with (
        loopback.running("fast", fast, port, "/v1/models", workdir),
        loopback.running("litellm", [*argv, "--port", str(proxy_port)], proxy_port, "/health/liveliness", workdir, env),
    ):
        yield proxy_port, workdir / "litellm.log", workdir, port


def _chat(port, key, model):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 1})
    conn.request("POST", "/v1/chat/completions", body, {"Authorization": f"Bearer {key}"})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status


@pytest.mark.parametrize("model", ["lab/allowed", "lab/other"])
def test_the_master_key_and_an_unrestricted_client_reach_every_model(proxy, model):
    assert _chat(proxy[0], MASTER, model) == 200
    assert _chat(proxy[0], KEYS["motoko"], model) == 200


def test_a_client_reaches_its_models_only(proxy):
    assert _chat(proxy[0], KEYS["armitage"], "lab/allowed") == 200
    assert _chat(proxy[0], KEYS["armitage"], "lab/other") == 403


@pytest.mark.parametrize("key", [KEYS["revoked"], "sk-unknown", ""], ids=["revoked", "unknown", "empty"])
def test_a_key_not_listed_is_refused(proxy, key):
    assert _chat(proxy[0], key, "lab/allowed") == 401


def test_a_client_over_its_requests_per_minute_gets_429(proxy):
    statuses = [_chat(proxy[0], KEYS["limited"], "lab/allowed") for _ in range(RPM + 2)]
    assert statuses[:RPM] == [200] * RPM
    assert statuses[RPM:] == [429, 429]


def test_the_log_names_the_client_never_its_key(proxy):
    assert _chat(proxy[0], KEYS["armitage"], "lab/allowed") == 200
    log = proxy[1].read_text()
    assert "tailnet-llm: client armitage: POST /v1/chat/completions" in log
    assert not [key for key in [*KEYS.values(), MASTER] if key in log]


def _replace_clients(workdir, rendered):
    """Put RENDERED's clients file in place as ansible.builtin.template does: a new file renamed over the old one."""
    new = workdir / "clients" / "clients.json.new"
    new.write_text((rendered / "clients" / "clients.json").read_text())
    os.replace(new, workdir / "clients" / "clients.json")


def test_a_rewritten_clients_file_takes_effect_without_a_restart(proxy, tmp_path):
    """The role rewrites clients.json and restarts nothing (a change of the clients alone): the next request sees the
    new list, in the same proxy process."""
    port, _, workdir, backend = proxy
    now, before = tmp_path / "now", tmp_path / "before"
    helpers.gateway_files(_variables(backend, ["motoko"]), now)
    helpers.gateway_files(_variables(backend, ["revoked"]), before)
    try:
        _replace_clients(workdir, now)
        assert [_chat(port, KEYS[name], "lab/allowed") for name in ("motoko", "revoked")] == [401, 200]
    finally:
        _replace_clients(workdir, before)
    assert [_chat(port, KEYS[name], "lab/allowed") for name in ("motoko", "revoked")] == [200, 401]
