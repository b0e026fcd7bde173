"""The checks of litellm_extra_models (through tailnet.llm.backend_problems): providers, addresses, keys only as
names, per-model settings, fallbacks. Each problem names the entry; a key is never shown."""

import copy

import pytest
from ansible.plugins.loader import filter_loader

BACKENDS = [
    {
        "name": "akira-local",
        "host": "127.0.0.1",
        "port": 8000,
        "models": [{"id": "qwen2.5-7b", "alias": "akira/qwen2.5-7b", "max_model_len": 32768}],
    }
]
# The runbook's models (inventory/group_vars/llm_gateways.yml has the same).
RUNBOOK = [
    {
        "alias": "ollama/llama3",
        "model": "ollama_chat/llama3",
        "api_base": "http://hab:11434",
        "max_input_tokens": 8192,
        "fallbacks": ["akira/qwen2.5-7b"],
    },
    {"alias": "hab/*", "model": "ollama_chat/*", "api_base": "http://hab:11434"},
    {"alias": "hab/completion/*", "model": "ollama/*", "api_base": "http://hab:11434"},
    {"alias": "sheep/llama3", "model": "ollama_chat/llama3", "api_base": "http://[fd7a:115c:a1e0::7]:11434"},
    {
        "alias": "claude-sonnet",
        "model": "anthropic/claude-sonnet-4-5",
        "api_key_env": "ANTHROPIC_API_KEY",
        "max_input_tokens": 128000,
        "timeout": 300,
        "stream_timeout": 30.5,
        "num_retries": 0,
        "cooldown_time": 0,
        "allowed_fails": 2,
        "rpm": 50,
        "tpm": 100000,
        "fallbacks": ["gpt-4o"],
    },
    {"alias": "gpt-4o", "model": "openai/gpt-4o", "api_key_env": "OPENAI_API_KEY", "max_input_tokens": 128000},
    {"alias": "gemini-pro", "model": "gemini/gemini-2.5-pro", "api_key_env": "GEMINI_API_KEY"},
    {"alias": "lmstudio/qwen", "model": "openai/qwen", "api_base": "http://motoko:1234/v1"},
    {"alias": "tgi/old", "model": "text-completion-openai/old", "api_base": "https://tgi.example:8080/v1"},
]
SECRETS = ["LITELLM_MASTER_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY"]
LITERAL_KEY = "sk-ant-api03-literal-key-in-inventory"


@pytest.fixture(scope="module")
def problems():
    backend_problems = filter_loader.get("tailnet.llm.backend_problems").j2_function

    def check(extra, **kwargs):
        kwargs.setdefault("secret_names", SECRETS)
        return backend_problems(BACKENDS, var="litellm_backends", extra_models=extra, **kwargs)

    return check


def _with(index, **changes):
    extra = copy.deepcopy(RUNBOOK)
    for key, value in changes.items():
        if value is None:
            extra[index].pop(key, None)
        else:
            extra[index][key] = value
    return extra


def test_the_runbooks_models_have_no_problem(problems):
    assert problems(RUNBOOK, default_model="akira/qwen2.5-7b") == []


@pytest.mark.parametrize("strict", [True, False])
def test_strict_is_a_setting_of_a_model(problems, strict):
    assert problems(_with(5, strict=strict)) == []


def test_the_earlier_shape_is_valid_as_it_is(problems):
    earlier = [
        {"alias": "openai/gpt-4o", "model": "openai/gpt-4o", "api_key_env": "OPENAI_API_KEY"},
        {"alias": "motoko/llama3", "model": "ollama/llama3", "api_base": "http://motoko:11434"},
    ]
    assert problems(earlier) == []


@pytest.mark.parametrize(
    ("extra", "kwargs", "expected"),
    [
        pytest.param(
            _with(4, api_key_env=None),
            {},
            "litellm_extra_models[4].api_key_env is missing: anthropic needs a key",
            id="cloud-model-without-key",
        ),
        pytest.param(
            _with(5, api_key_env=None),
            {},
            "litellm_extra_models[5].api_key_env is missing: openai needs a key",
            id="openai-without-key-or-api-base",
        ),
        pytest.param(
            _with(6, api_key_env="GOOGLE_KEY"),
            {},
            "litellm_extra_models[6].api_key_env is 'GOOGLE_KEY', which litellm_env_secrets does not hold: map it "
            "to its Key Vault secret in azure_keyvault_secrets.litellm",
            id="key-name-not-in-the-secrets",
        ),
        pytest.param(
            _with(0, api_base=None),
            {},
            "litellm_extra_models[0].api_base is missing: ollama_chat has no default address",
            id="ollama-without-its-host",
        ),
        pytest.param(
            _with(0, api_base="hab:11434"),
            {},
            "litellm_extra_models[0].api_base is 'hab:11434': it must be an http:// or https:// URL with a host",
            id="api-base-not-a-url",
        ),
        pytest.param(
            _with(7, model="mistral/large"),
            {},
            "litellm_extra_models[7].model is 'mistral/large': it must be PROVIDER/MODEL with a provider of ollama/,",
            id="unknown-provider",
        ),
        pytest.param(
            _with(7, model="gpt-4o"), {}, "litellm_extra_models[7].model is 'gpt-4o'", id="model-without-provider"
        ),
        pytest.param(
            _with(1, model="ollama_chat/llama3"),
            {},
            "litellm_extra_models[1]: alias 'hab/*' and model 'ollama_chat/llama3' must have as many '*'",
            id="wildcard-alias-to-one-model",
        ),
        pytest.param(
            _with(0, timeout=0),
            {},
            "litellm_extra_models[0].timeout is 0: it must be a number, more than 0",
            id="timeout-0",
        ),
        pytest.param(
            _with(4, num_retries=-1),
            {},
            "litellm_extra_models[4].num_retries is -1: it must be a whole number, 0 or more",
            id="negative-retries",
        ),
        pytest.param(
            _with(4, rpm=1.5), {}, "litellm_extra_models[4].rpm is 1.5: it must be a whole number", id="rpm-not-whole"
        ),
        pytest.param(
            _with(4, max_input_tokens=True),
            {},
            "litellm_extra_models[4].max_input_tokens is True",
            id="window-a-boolean",
        ),
        pytest.param(
            _with(4, strict="yes"),
            {},
            "litellm_extra_models[4].strict is 'yes': it must be true or false",
            id="strict-not-a-boolean",
        ),
        pytest.param(
            _with(4, tokens=5),
            {},
            "litellm_extra_models[4].tokens is not a setting of a model",
            id="unknown-setting",
        ),
        pytest.param(
            _with(4, fallbacks=["gpt-5"]),
            {},
            "litellm_extra_models[4].fallbacks[0] is 'gpt-5', which is no configured alias (known: akira/qwen2.5-7b,",
            id="fallback-to-nothing",
        ),
        pytest.param(
            _with(4, fallbacks=["hab/*"]),
            {},
            "litellm_extra_models[4].fallbacks[0] is 'hab/*', which is no configured alias",
            id="fallback-to-a-wildcard",
        ),
        pytest.param(
            _with(4, fallbacks=["claude-sonnet"]),
            {},
            "litellm_extra_models[4].fallbacks[0] is 'claude-sonnet' itself",
            id="fallback-to-itself",
        ),
        pytest.param(
            _with(4, fallbacks=["gpt-4o", "gpt-4o"]),
            {},
            "litellm_extra_models[4].fallbacks[1]: 'gpt-4o' is listed twice",
            id="fallback-twice",
        ),
        pytest.param(
            _with(4, fallbacks="gpt-4o"),
            {},
            "litellm_extra_models[4].fallbacks is 'gpt-4o': it must be a list of aliases",
            id="fallbacks-not-a-list",
        ),
        pytest.param(
            _with(1, fallbacks=["gpt-4o"]),
            {},
            "litellm_extra_models[1].fallbacks: 'hab/*' is a wildcard route, which LiteLLM cannot fall back from",
            id="fallback-from-a-wildcard",
        ),
        pytest.param(
            _with(4, max_input_tokens=200000),
            {},
            "litellm_extra_models[4].fallbacks[0]: 'gpt-4o' has a smaller context window (128000 tokens) than "
            "'claude-sonnet' (200000): a request that fits 'claude-sonnet' may not fit 'gpt-4o'",
            id="fallback-to-a-smaller-window",
        ),
        pytest.param(
            _with(0, max_input_tokens=65536),
            {},
            "litellm_extra_models[0].fallbacks[0]: 'akira/qwen2.5-7b' has a smaller context window (32768 tokens) "
            "than 'ollama/llama3' (65536)",
            id="fallback-to-a-vllm-model-with-a-smaller-max-model-len",
        ),
        pytest.param(
            _with(5, fallbacks=["gemini-pro", "claude-sonnet"]),
            {},
            "fallbacks go round in a circle: claude-sonnet -> gpt-4o -> claude-sonnet",
            id="fallbacks-in-a-circle",
        ),
        pytest.param(
            RUNBOOK,
            {"router_settings": {"fallbacks": [{"gpt-4o": ["claude-sonnet"]}]}},
            "litellm_router_settings.fallbacks and litellm_extra_models[].fallbacks are both set",
            id="fallbacks-in-two-places",
        ),
        pytest.param(
            RUNBOOK,
            {"default_model": "hab/*"},
            "litellm_default_model is 'hab/*', a wildcard route: default must route to one model",
            id="default-to-a-wildcard",
        ),
        pytest.param(
            _with(6, alias="claude-sonnet"),
            {},
            "litellm_extra_models[6].alias: alias 'claude-sonnet' is duplicated: litellm_extra_models[4] already has it",
            id="duplicate-alias",
        ),
        pytest.param(
            [*RUNBOOK, "gpt-4o"], {}, "litellm_extra_models[9] is 'gpt-4o': it must be a mapping", id="not-a-mapping"
        ),
    ],
)
def test_problem_names_the_entry(problems, extra, kwargs, expected):
    found = problems(extra, **kwargs)
    assert any(expected in p for p in found), found


def test_a_window_unknown_on_either_side_is_not_compared(problems):
    """Only where both windows are known: gemini-pro declares none, so falling back to it is no problem."""
    assert problems(_with(4, max_input_tokens=200000, fallbacks=["gemini-pro"])) == []


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param(
            _with(4, api_key=LITERAL_KEY),
            "litellm_extra_models[4].api_key is a key written into the inventory, which is refused",
            id="literal-api-key",
        ),
        pytest.param(
            _with(4, api_key_env=LITERAL_KEY),
            "litellm_extra_models[4].api_key_env must be the name of a variable of litellm_env_secrets",
            id="key-given-as-its-name",
        ),
        pytest.param(
            _with(4, api_key_env="os.environ/" + LITERAL_KEY),
            "litellm_extra_models[4].api_key_env must be the name",
            id="key-as-a-reference",
        ),
        pytest.param(
            _with(6, api_base=f"https://generativelanguage.googleapis.com/v1beta?key={LITERAL_KEY}"),
            "litellm_extra_models[6].api_base must be a plain URL, without user, password, query or fragment",
            id="key-in-the-url-query",
        ),
        pytest.param(
            _with(7, api_base=f"http://user:{LITERAL_KEY}@motoko:1234/v1"),
            "litellm_extra_models[7].api_base must be a plain URL",
            id="key-in-the-url-userinfo",
        ),
    ],
)
def test_a_key_in_the_inventory_is_refused_and_never_shown(problems, extra, expected):
    found = problems(extra)
    assert any(expected in p for p in found), found
    assert not [p for p in found if LITERAL_KEY in p], found


def test_without_secret_names_the_key_names_are_not_looked_up(problems):
    """The filter alone (no litellm_env_secrets at hand) checks the shape of the names only."""
    assert problems(_with(6, api_key_env="GOOGLE_KEY"), secret_names=None) == []
