"""The gateways: LiteLLM and firewalld, checked from the gateway itself. Changes nothing."""

import json

import helpers
import pytest
from ansible_collections.tailnet.llm.plugins.plugin_utils.backends import backend_url, served_names_problems

testinfra_hosts = ["ansible://llm_gateways"]

CHAT = {"messages": [{"role": "user", "content": "Say hello in one short sentence."}], "max_tokens": 24}


@pytest.mark.parametrize("service", ["litellm", "firewalld"])
def test_service_enabled_and_running(host, service):
    unit = host.service(service)
    assert unit.is_enabled
    assert unit.is_running


@pytest.mark.parametrize(
    ("name", "mode"),
    [(".env", 0o600), ("config.yaml", 0o644), ("docker-compose.yml", 0o644)],
)
def test_gateway_file(host, name, mode):
    with host.sudo():
        f = host.file(f"{helpers.gateway_settings(host)['base_dir']}/{name}")
        assert f.is_file
        assert f.user == "root"
        assert f.mode == mode


def test_config_holds_no_secret(host):
    base = helpers.gateway_settings(host)["base_dir"]
    secrets = helpers.env_file(host, f"{base}/.env")
    config = host.file(f"{base}/config.yaml").content_string
    leaked = sorted(name for name, value in secrets.items() if len(value) >= 8 and value in config)
    assert "LITELLM_MASTER_KEY" in secrets
    assert not leaked, f"config.yaml contains the values of {leaked}"
    assert "os.environ/LITELLM_MASTER_KEY" in config


def test_remote_backends_answer_the_gateway_with_the_key_only(host):
    """Every model host the gateway reaches over the tailnet answers it, and only with the fleet's key."""
    remote = [b for b in helpers.gateway_settings(host)["backends"] if "api_key_env" in b]
    for backend in remote:
        url = f"{backend_url(backend)}/v1/models"
        assert helpers.backend_request(host, url, key_env=backend["api_key_env"]) == 200, url
        assert helpers.backend_request(host, url) == 401, f"{url} answers without the key"


def test_gateway_listens_on_ipv4_and_ipv6(host):
    """Every IPv4 and every IPv6 address (the default), or the one address the inventory binds it to."""
    port, bind = helpers.gateway_settings(host)["port"], helpers.gateway_settings(host)["bind_address"]
    for address in [bind] if bind else ["0.0.0.0", "::"]:
        assert host.socket(f"tcp://{address}:{port}").is_listening, f"nothing listens on {address} port {port}"


def test_models_lists_exactly_the_aliases(host):
    """Every configured name, and nothing else but what LiteLLM lists for a wildcard route (as the role checks)."""
    status, body = helpers.gateway_request(host, "/v1/models")
    assert status == 200
    listed = sorted(m["id"] for m in json.loads(body)["data"])
    assert served_names_problems(listed, helpers.gateway_settings(host)["model_list"]) == []


@pytest.mark.parametrize("key", ["none", "wrong"])
def test_request_without_the_master_key_is_refused(host, key):
    status, body = helpers.gateway_request(host, "/v1/chat/completions", key=key, body={**CHAT, "model": "default"})
    assert status in (400, 401, 403)
    assert '"choices"' not in body


def test_chat_completion_returns_model_text(host):
    """A real completion through every name the gateway serves: every backend of every model host answers (but
    the lab's model that is down by design, tests/testinfra/test_third_party_models.py)."""
    dead = helpers.dead_models(host)
    for alias in [alias for alias in helpers.gateway_settings(host)["aliases"] if alias not in dead]:
        status, body = helpers.gateway_request(host, "/v1/chat/completions", body={**CHAT, "model": alias})
        assert status == 200, f"{alias}: {body[:500]}"
        answer = json.loads(body)
        assert answer["choices"][0]["message"]["content"].strip(), alias
        assert answer["usage"]["completion_tokens"] > 0, alias


def test_streaming_chat_completion(host):
    status, body = helpers.gateway_request(
        host, "/v1/chat/completions", body={**CHAT, "model": "default", "stream": True}
    )
    assert status == 200, body[:500]
    events = [line[len("data: ") :] for line in body.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert len(chunks) > 2
    assert text.strip()
