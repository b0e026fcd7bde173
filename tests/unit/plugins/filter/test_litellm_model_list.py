import pytest
from ansible.plugins.loader import filter_loader

BACKENDS = [
    {"name": "akira-local", "host": "127.0.0.1", "port": 8000, "models": [{"id": "q", "alias": "akira/q"}]},
    {
        "name": "tachikoma",
        "host": "fd7a:115c:a1e0::12",
        "port": 8001,
        "models": [{"id": "l", "alias": "t/l", "max_model_len": 8192}],
    },
]
EXTRA = [{"alias": "openai/gpt-4o", "model": "openai/gpt-4o", "api_key_env": "OPENAI_API_KEY"}]


@pytest.fixture(scope="module")
def model_list():
    return filter_loader.get("tailnet.llm.litellm_model_list").j2_function


def _names(entries):
    return [entry["model_name"] for entry in entries]


def test_default_follows_the_first_model(model_list):
    assert _names(model_list(BACKENDS, EXTRA)) == ["akira/q", "default", "t/l", "openai/gpt-4o"]


def test_default_follows_the_default_model(model_list):
    entries = model_list(BACKENDS, EXTRA, "openai/gpt-4o")
    assert _names(entries) == ["akira/q", "t/l", "openai/gpt-4o", "default"]
    assert entries[3]["litellm_params"] == entries[2]["litellm_params"]


def test_an_alias_named_default_is_not_doubled(model_list):
    extra = [{"alias": "default", "model": "ollama/llama3", "api_base": "http://motoko:11434"}]
    assert _names(model_list(BACKENDS, extra, "")) == ["akira/q", "t/l", "default"]


def test_backend_route(model_list):
    entry = model_list(BACKENDS)[2]
    assert entry == {
        "model_name": "t/l",
        "litellm_params": {"model": "hosted_vllm/l", "api_base": "http://[fd7a:115c:a1e0::12]:8001/v1"},
        "model_info": {"max_input_tokens": 8192, "input_cost_per_token": 0, "output_cost_per_token": 0},
    }


def test_keys_are_environment_references(model_list):
    entry = model_list([], EXTRA)[0]
    assert entry["litellm_params"] == {"model": "openai/gpt-4o", "api_key": "os.environ/OPENAI_API_KEY"}


def test_nothing_configured_serves_nothing(model_list):
    assert model_list([], []) == []


def test_remote_backend_sends_its_key(model_list):
    remote = {**BACKENDS[0], "host": "wintermute", "api_key_env": "VLLM_API_KEY"}
    assert model_list([remote])[0]["litellm_params"] == {
        "model": "hosted_vllm/q",
        "api_base": "http://wintermute:8000/v1",
        "api_key": "os.environ/VLLM_API_KEY",
    }


def test_two_deployments_of_one_alias(model_list):
    """Two backends serving one model under one alias: two entries of that name (LiteLLM balances), and
    `default` follows both."""
    second = {**BACKENDS[0], "name": "w", "host": "wintermute", "api_key_env": "VLLM_API_KEY"}
    entries = model_list([BACKENDS[0], second])
    assert _names(entries) == ["akira/q", "default", "akira/q", "default"]
    assert entries[2]["litellm_params"]["api_base"] == "http://wintermute:8000/v1"


OLLAMA = [
    {"alias": "hab/*", "model": "ollama_chat/*", "api_base": "http://hab:11434"},
    {"alias": "ollama/llama3", "model": "ollama_chat/llama3", "api_base": "http://hab:11434"},
    {"alias": "sheep/codellama", "model": "ollama/codellama", "api_base": "http://sheep:11434"},
]


def test_ollama_hosts_chat_completion_and_wildcard_routes(model_list):
    """Chat models through Ollama's chat API (ollama_chat/), completion models through its generate API (ollama/),
    each at its own host; a wildcard route passes the requested name on."""
    entries = {e["model_name"]: e for e in model_list([], OLLAMA)}
    assert entries["hab/*"]["litellm_params"] == {"model": "ollama_chat/*", "api_base": "http://hab:11434"}
    assert entries["ollama/llama3"]["litellm_params"] == {"model": "ollama_chat/llama3", "api_base": "http://hab:11434"}
    assert entries["sheep/codellama"]["litellm_params"] == {
        "model": "ollama/codellama",
        "api_base": "http://sheep:11434",
    }
    assert "model_info" not in entries["hab/*"]


def test_default_never_routes_to_a_wildcard_route(model_list):
    entries = model_list([], OLLAMA)
    assert _names(entries) == ["hab/*", "ollama/llama3", "default", "sheep/codellama"]


def test_per_model_settings_go_where_litellm_reads_them(model_list):
    """Timeouts, retries and rate limits in litellm_params (the deployment's call); the context window, cooldown
    and allowed fails in model_info (kept by the router, never sent to the provider); fallbacks in neither."""
    extra = [
        {
            "alias": "claude-sonnet",
            "model": "anthropic/claude-sonnet-4-5",
            "api_key_env": "ANTHROPIC_API_KEY",
            "timeout": 300,
            "stream_timeout": 30,
            "num_retries": 0,
            "rpm": 50,
            "tpm": 100000,
            "max_input_tokens": 128000,
            "cooldown_time": 60,
            "allowed_fails": 2,
            "fallbacks": ["gpt-4o"],
        }
    ]
    entry = model_list([], extra)[0]
    assert entry == {
        "model_name": "claude-sonnet",
        "litellm_params": {
            "model": "anthropic/claude-sonnet-4-5",
            "api_key": "os.environ/ANTHROPIC_API_KEY",
            "timeout": 300,
            "stream_timeout": 30,
            "num_retries": 0,
            "rpm": 50,
            "tpm": 100000,
        },
        "model_info": {"max_input_tokens": 128000, "cooldown_time": 60, "allowed_fails": 2},
    }


def test_a_priced_vllm_model_carries_its_price_and_others_cost_nothing(model_list):
    priced = {"id": "q", "alias": "akira/q", "input_cost_per_token": 2e-7, "output_cost_per_token": 8e-7}
    entries = model_list([{**BACKENDS[0], "models": [priced]}, BACKENDS[1]])
    infos = {entry["model_name"]: entry["model_info"] for entry in entries}
    assert infos["akira/q"] == {"input_cost_per_token": 2e-7, "output_cost_per_token": 8e-7}
    assert infos["t/l"] == {"max_input_tokens": 8192, "input_cost_per_token": 0, "output_cost_per_token": 0}
