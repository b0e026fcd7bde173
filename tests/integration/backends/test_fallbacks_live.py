"""Cloud models falling back to the local model, through the real LiteLLM proxy on loopback.

The proxy runs the config.yaml and the environment that the litellm role renders (its own templates, defaults and
vars, as tests/unit/roles/test_litellm_config.py renders them) from inventory-shaped variables, after the role's
own checks passed on them:
- `claude-sonnet` is Anthropic at a local endpoint that refuses its key as Anthropic does
  (tests/servers/providers.py); `gpt-4o` is OpenAI at a loopback port nothing listens on;
- both fall back to `lab/smollm2`, llama.cpp serving SmolLM2 (tests/servers/loopback.py), routed as a vLLM backend
  is (`hosted_vllm/`);
- `claude-alone`, the same refusing endpoint without fallbacks, shows what a client gets without them.

The client must get an answer, streamed or not, and LiteLLM must say that a fallback happened: its
`x-litellm-attempted-fallbacks` response header (router_utils/add_retry_fallback_headers.py) and its
`x-litellm-model-group`, the name that answered.
"""

import http.client
import json
import secrets
import subprocess
import time
from urllib.parse import urlsplit

import helpers
import loopback
import providers
import pytest
import yaml

pytestmark = pytest.mark.slow

LOCAL = "lab/smollm2"
KEYS = {
    "LITELLM_MASTER_KEY": "sk-fallback-master-" + secrets.token_hex(8),
    "ANTHROPIC_API_KEY": "sk-ant-fallback-test-" + secrets.token_hex(8),
    "OPENAI_API_KEY": "sk-fallback-openai-test-" + secrets.token_hex(8),
}


def inventory(llama_url, anthropic_url, dead_port):
    """The gateway's variables, as an inventory would give them."""
    port = urlsplit(llama_url).port
    return {
        "litellm_backends": [
            {
                "name": "loopback-llama",
                "host": "127.0.0.1",
                "port": port,
                "models": [{"id": "smollm2", "alias": LOCAL, "max_model_len": 2048}],
            }
        ],
        "litellm_extra_models": [
            {
                "alias": "claude-sonnet",
                "model": "anthropic/claude-sonnet-4-5",
                "api_key_env": "ANTHROPIC_API_KEY",
                "api_base": anthropic_url,
                "max_input_tokens": 2048,
                "num_retries": 1,
                "fallbacks": [LOCAL],
            },
            {
                "alias": "gpt-4o",
                "model": "openai/gpt-4o",
                "api_key_env": "OPENAI_API_KEY",
                "api_base": f"http://127.0.0.1:{dead_port}/v1",
                "timeout": 10,
                "num_retries": 0,
                "cooldown_time": 5,
                "fallbacks": [LOCAL],
            },
            {
                "alias": "claude-alone",
                "model": "anthropic/claude-sonnet-4-5",
                "api_key_env": "ANTHROPIC_API_KEY",
                "api_base": anthropic_url,
            },
        ],
        "litellm_default_model": "claude-sonnet",
        "litellm_env_secrets": dict(KEYS),
    }


def source(env_text, workdir):
    """The variables of the role's env file as the container's shell reads them (set -a; . FILE)."""
    path = workdir / "env"
    path.write_text(env_text)
    out = subprocess.run(
        ["env", "-i", "/bin/sh", "-c", f"set -a && . {path} && exec env -0"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pairs = (item.split("=", 1) for item in out.split("\0") if "=" in item)
    return {name: value for name, value in pairs if name not in ("PWD", "SHLVL", "_")}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("fallbacks")
    with loopback.llama_server(workdir) as llama, providers.anthropic_refusing_keys() as (anthropic, requests):
        variables = inventory(llama, anthropic, helpers.free_port())
        checked = helpers.failures("litellm", "validate.yml", {"gateway": variables}, workdir)
        assert checked["gateway"] is None, checked["gateway"]
        env_template = helpers.REPO / "roles" / "compose_service" / "templates" / "env.j2"
        rendered = helpers.render(
            "litellm",
            {
                "config": ("config.yaml.j2", variables),
                "env": (env_template, {**variables, "compose_service_env": "{{ __litellm_env }}"}),
            },
            workdir,
        )
        assert not [name for name, key in KEYS.items() if key in rendered["config"]], "a key is in config.yaml"
        config = workdir / "config.yaml"
        config.write_text(rendered["config"])
        env = {**source(rendered["env"], workdir), "LITELLM_LOG": "INFO"}
        with loopback.litellm_with_config(config, env, workdir) as url:
            yield {
                "url": url,
                "config": yaml.safe_load(rendered["config"]),
                "anthropic": requests,
                "log": workdir / "litellm.log",
            }


def chat(url, model, stream=False, timeout=120):
    """POST a short chat completion; returns (status, lower-case headers, body text)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "max_tokens": 16,
        "temperature": 0,
        "stream": stream,
    }
    headers = {"Authorization": f"Bearer {KEYS['LITELLM_MASTER_KEY']}", "Content-Type": "application/json"}
    try:
        conn.request("POST", "/v1/chat/completions", json.dumps(body), headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    finally:
        conn.close()


def test_the_role_renders_the_fallbacks_and_per_model_settings(gateway):
    """What the proxy runs: the rendered routes and chains (the role's own output, not written by this test)."""
    config = gateway["config"]
    routes = {entry["model_name"]: entry for entry in config["model_list"]}
    assert config["router_settings"]["fallbacks"] == [
        {"claude-sonnet": [LOCAL]},
        {"gpt-4o": [LOCAL]},
        {"default": [LOCAL]},
    ]
    assert routes["gpt-4o"]["litellm_params"]["timeout"] == 10
    assert routes["gpt-4o"]["model_info"]["cooldown_time"] == 5
    assert routes["claude-sonnet"]["litellm_params"]["api_key"] == "os.environ/ANTHROPIC_API_KEY"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("model", ["claude-sonnet", "gpt-4o", "default"])
def test_a_failing_cloud_model_falls_back_to_the_local_model(gateway, model, stream):
    started = time.monotonic()
    status, headers, body = chat(gateway["url"], model, stream=stream)
    took = time.monotonic() - started
    assert status == 200, body[-2000:]
    answer = helpers.streamed_text(body) if stream else json.loads(body)["choices"][0]["message"]["content"]
    assert answer.strip(), body[-2000:]
    # LiteLLM says so: one fallback, and the name that answered.
    assert int(headers.get("x-litellm-attempted-fallbacks", 0)) >= 1, headers
    assert headers.get("x-litellm-model-group") == LOCAL, headers
    assert took < 60, f"the fallback took {took:.1f} s"


def test_the_refusing_endpoint_got_the_key_from_the_environment(gateway):
    """The key reached the provider (the config holds only os.environ/ANTHROPIC_API_KEY), and was refused as
    Anthropic refuses one."""
    calls = [r for r in gateway["anthropic"] if r.method == "POST" and r.path.startswith("/v1/messages")]
    assert calls, "LiteLLM never called the Anthropic endpoint"
    assert {r.headers.get("x-api-key") for r in calls} == {KEYS["ANTHROPIC_API_KEY"]}
    assert json.loads(calls[-1].body)["model"] == "claude-sonnet-4-5"


def test_without_fallbacks_the_client_gets_the_providers_refusal(gateway):
    """The control: the same endpoint without fallbacks answers the client with the refusal, so the answers above
    came from the fallbacks."""
    status, headers, body = chat(gateway["url"], "claude-alone")
    assert status == 401, body[-2000:]
    assert "invalid x-api-key" in body
    assert KEYS["ANTHROPIC_API_KEY"] not in body
    assert int(headers.get("x-litellm-attempted-fallbacks", 0)) == 0, headers


def test_the_log_names_the_fallback_and_no_key(gateway):
    chat(gateway["url"], "gpt-4o")
    log = gateway["log"].read_text()
    assert f"Falling back to model_group = {LOCAL}" in log, log[-3000:]
    assert "Successful fallback b/w models." in log, log[-3000:]
    assert not [name for name, key in KEYS.items() if key in log], "a key is in the proxy's log"
