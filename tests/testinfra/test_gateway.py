"""The gateway host: vLLM, the LiteLLM gateway and firewalld, checked from the host itself. Changes nothing."""

import json
import re

import helpers
import pytest

testinfra_hosts = ["ansible://llm_gateways"]

CHAT = {"messages": [{"role": "user", "content": "Say hello in one short sentence."}], "max_tokens": 24}


@pytest.mark.parametrize("service", ["vllm", "litellm", "firewalld"])
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


def test_vllm_listens_on_loopback_only(host):
    backends = helpers.gateway_settings(host)["local_backends"]
    assert backends, "no local vLLM backend in the inventory"
    for backend in backends:
        port = backend["port"]
        assert host.socket(f"tcp://127.0.0.1:{port}").is_listening
        assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening
        assert not host.socket(f"tcp://:::{port}").is_listening


def test_no_vllm_process_listens_beyond_loopback(host):
    """vLLM's API and its own worker sockets: every listening socket of a vLLM container is on loopback."""
    with host.sudo():
        ids = host.check_output("podman ps -q --no-trunc --filter label=com.docker.compose.project=vllm").split()
        assert ids, "no vLLM container runs"
        listening = host.check_output("ss -Hltnp").splitlines()
        exposed = []
        for line in listening:
            local = line.split()[3]
            if local.rsplit(":", 1)[0] in ("127.0.0.1", "[::1]"):
                continue
            for pid in re.findall(r"pid=(\d+)", line):
                cgroup = host.run("cat /proc/%s/cgroup", pid).stdout
                if any(container in cgroup for container in ids):
                    exposed.append(local)
    assert not exposed, f"vLLM listens on {sorted(set(exposed))}"


def test_gateway_listens_on_ipv4_and_ipv6(host):
    """Every IPv4 and every IPv6 address (the default), or the one address the inventory binds it to."""
    port, bind = helpers.gateway_settings(host)["port"], helpers.gateway_settings(host)["bind_address"]
    for address in [bind] if bind else ["0.0.0.0", "::"]:
        assert host.socket(f"tcp://{address}:{port}").is_listening, f"nothing listens on {address} port {port}"


def test_models_lists_exactly_the_aliases(host):
    status, body = helpers.gateway_request(host, "/v1/models")
    assert status == 200
    assert sorted(m["id"] for m in json.loads(body)["data"]) == helpers.gateway_settings(host)["aliases"]


@pytest.mark.parametrize("key", ["none", "wrong"])
def test_request_without_the_master_key_is_refused(host, key):
    status, body = helpers.gateway_request(host, "/v1/chat/completions", key=key, body={**CHAT, "model": "default"})
    assert status in (400, 401, 403)
    assert '"choices"' not in body


@pytest.mark.parametrize("alias", ["default", "first-backend-alias"])
def test_chat_completion_returns_model_text(host, alias):
    if alias == "first-backend-alias":
        alias = helpers.gateway_settings(host)["backends"][0]["models"][0]["alias"]
    status, body = helpers.gateway_request(host, "/v1/chat/completions", body={**CHAT, "model": alias})
    assert status == 200, body[:500]
    answer = json.loads(body)
    assert answer["choices"][0]["message"]["content"].strip()
    assert answer["usage"]["completion_tokens"] > 0


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
