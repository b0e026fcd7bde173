"""A cloud model whose provider fails falls back to the lab's vLLM model, through the real LiteLLM on every gateway.

The lab's gateways serve two cloud models with fallbacks (extensions/molecule/stack/lab/gateways.yml),
both at the controller's tailnet address (lab/all.yml): Anthropic, where this module runs a stand-in
that refuses every key as Anthropic does (tests/servers/providers.py), and OpenAI, at a port where nothing listens.
From a client, with its own key, through each gateway, streamed and not: the client gets an answer from a
deployment of the lab's vLLM model, LiteLLM says that a fallback happened (`x-litellm-attempted-fallbacks`) and
which name answered (`x-litellm-model-group`), and the stand-in got the request with the lab's Anthropic key, which
the gateway has from its environment only (config.yaml names os.environ/ANTHROPIC_API_KEY). Lab only
(TAILNET_LLM_FAULTS=yes), as the other fault tests: the providers are on the lab's controller.
"""

import json
import time
from urllib.parse import urlsplit

import helpers
import providers
import pytest

testinfra_hosts = ["ansible://llm_gateways"]

# Each way a provider fails, and the lab variable with the controller's port of the model that fails so.
PORTS = {"refused": "lab_anthropic_port", "unreachable": "lab_unreachable_port"}
SECONDS = 60  # a fallback may take (the failing provider answers at once: no retries)


def _model(hostvars, case):
    """The gateway's cloud model (with fallbacks) whose provider is at the controller's port of CASE."""
    address, port = hostvars["lab_controller_address"], int(hostvars[PORTS[case]])
    found = [
        model
        for model in hostvars["litellm_extra_models"]
        if model.get("fallbacks") and _address(model.get("api_base") or "") == (address, port)
    ]
    assert len(found) == 1, f"{case}: {len(found)} models with fallbacks at {address}:{port} in litellm_extra_models"
    return found[0]


def _address(url):
    parts = urlsplit(url)
    return parts.hostname, parts.port


def _client(host, aliases):
    """A client host whose key may call every name of ALIASES."""
    for client in helpers.group_hosts(host, "llm_clients_linux"):
        allowed = helpers.inventory_vars(client).get("llm_client_models") or []
        if not allowed or set(aliases) <= set(allowed):
            return client
    pytest.fail(f"no client of llm_clients_linux may call {aliases}")


@pytest.fixture(scope="module")
def lab(host):
    """The cloud models, a client that may call them, and the Anthropic stand-in on the controller while the
    gateway's tests run; each of the gateway's requests to the stand-in is in `requests`."""
    hostvars = helpers.inventory_vars(host)
    if hostvars.get("lab_controller_address") is None:
        pytest.skip("this inventory is no lab with stand-in providers on its controller")
    models = {case: _model(hostvars, case) for case in PORTS}
    address, port = hostvars["lab_controller_address"], int(hostvars["lab_anthropic_port"])
    with providers.anthropic_refusing_keys(address, port) as (_, requests):
        yield {
            "models": models,
            "client": _client(host, [model["alias"] for model in models.values()]),
            "requests": requests,
            "key": hostvars["litellm_env_secrets"][models["refused"]["api_key_env"]],
        }


def _fallback_bases(host, alias):
    """The api_base of every deployment of ALIAS on the gateway."""
    model_list = helpers.gateway_settings(host)["model_list"]
    return {entry["litellm_params"]["api_base"] for entry in model_list if entry["model_name"] == alias}


def _answer(body, stream):
    """The answer's text; a stream must end with [DONE]."""
    if not stream:
        return json.loads(body)["choices"][0]["message"]["content"]
    events = [line for line in body.splitlines() if line.startswith("data: ")]
    assert events[-1:] == ["data: [DONE]"], body[-2000:]
    return helpers.streamed_text(body)


def test_the_gateway_reaches_the_refusing_provider_and_not_the_unreachable_one(host, lab):
    """What the gateway itself sees on the controller: the stand-in answers, the other port refuses connections
    (curl's exit code 7: no connection)."""
    refusing, unreachable = (lab["models"][case]["api_base"] for case in ("refused", "unreachable"))
    answered = host.run("curl -s -o /dev/null -w '%%{http_code}' --max-time 5 %s/v1/messages", refusing)
    assert answered.stdout == "404"  # the stand-in's answer to a GET
    assert host.run("curl -s -o /dev/null --max-time 5 %s/models", unreachable).rc == 7


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("case", PORTS)
def test_a_failing_cloud_model_falls_back_to_the_lab_model(host, lab, case, stream):
    model = lab["models"][case]
    fallback = model["fallbacks"][0]
    body = {
        "model": model["alias"],
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "max_tokens": 8,
        "stream": stream,
    }
    before = len(lab["requests"])
    started = time.monotonic()
    status, text, headers = helpers.client_chat(lab["client"], host, body, timeout=SECONDS)
    took = time.monotonic() - started
    assert status == 200, text[-2000:]
    assert _answer(text, stream).strip(), text[-2000:]
    # LiteLLM says so: one fallback, the name that answered, and the deployment of it that did (a lab vLLM).
    assert headers.get("x-litellm-attempted-fallbacks") == "1", headers
    assert headers.get("x-litellm-model-group") == fallback, headers
    assert headers.get("x-litellm-model-api-base") in _fallback_bases(host, fallback), headers
    assert took < SECONDS
    if case == "refused":
        # The gateway tried the provider first: the stand-in got this request, with the lab's key (which the gateway
        # has from its environment only), and refused it.
        calls = [r for r in lab["requests"][before:] if r.method == "POST" and r.path.split("?")[0] == "/v1/messages"]
        assert calls, "the gateway never called the stand-in"
        keys_right = [r.headers.get("x-api-key") == lab["key"] for r in calls]
        assert all(keys_right), f"{len(calls)} requests reached the stand-in, key right: {keys_right}"
        assert json.loads(calls[-1].body)["model"] == model["model"].partition("/")[2]
