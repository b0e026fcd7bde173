import pytest
from ansible.errors import AnsibleFilterError
from ansible.plugins.loader import filter_loader

URL = "http://127.0.0.1:4000/v1/chat/completions"


@pytest.fixture(scope="module")
def completion_probes():
    return filter_loader.get("tailnet.llm.completion_probes").j2_function


def test_one_url_for_every_model(completion_probes):
    probes = completion_probes(["a/m", "default"], URL, "LITELLM_MASTER_KEY")
    assert [(p["name"], p["url"], p["key_env"], p["body"]["model"]) for p in probes] == [
        ("a/m", URL, "LITELLM_MASTER_KEY", "a/m"),
        ("default", URL, "LITELLM_MASTER_KEY", "default"),
    ]
    assert all(p["body"]["max_tokens"] == 1 for p in probes)


def test_one_url_per_model_without_key(completion_probes):
    urls = ["http://127.0.0.1:8000/v1/chat/completions", "http://127.0.0.1:8001/v1/chat/completions"]
    probes = completion_probes(["m1", "m2"], urls)
    assert [p["url"] for p in probes] == urls
    assert all("key_env" not in p for p in probes)


def test_urls_and_models_must_pair(completion_probes):
    with pytest.raises(AnsibleFilterError, match="2 models but 1 URLs"):
        completion_probes(["m1", "m2"], [URL])


def test_without_extra_models_every_probe_is_strict(completion_probes):
    """vLLM's own probes (roles/vllm): every model is the collection's."""
    assert [p["strict"] for p in completion_probes(["m1", "m2"], [URL, URL])] == [True, True]


# A gateway's models: a vLLM backend, and models of other providers, one of them marked strict.
BACKENDS = [{"name": "akira-local", "host": "127.0.0.1", "port": 8000, "models": [{"id": "q", "alias": "akira/q"}]}]
EXTRA = [
    {"alias": "claude", "model": "anthropic/claude-sonnet-4-5", "api_key_env": "ANTHROPIC_API_KEY"},
    {"alias": "hab/llama3", "model": "ollama_chat/llama3", "api_base": "http://hab:11434", "strict": False},
    {"alias": "lmstudio/qwen", "model": "openai/qwen", "api_base": "http://motoko:1234/v1", "strict": True},
    {"alias": "gpt-4o", "model": "openai/gpt-4o", "api_key_env": "OPENAI_API_KEY", "fallbacks": ["akira/q"]},
]
NAMES = ["akira/q", "claude", "default", "gpt-4o", "hab/llama3", "lmstudio/qwen"]


@pytest.mark.parametrize(
    ("backends", "default_model", "lenient"),
    [
        # default is the first model, the vLLM one: only the other providers' models not marked strict are lenient.
        pytest.param(BACKENDS, "", ["claude", "gpt-4o", "hab/llama3"], id="default-to-vllm"),
        pytest.param(BACKENDS, "claude", ["claude", "default", "gpt-4o", "hab/llama3"], id="default-to-a-cloud-model"),
        pytest.param(BACKENDS, "lmstudio/qwen", ["claude", "gpt-4o", "hab/llama3"], id="default-to-a-strict-model"),
        # Without backends, the first model is the first extra model.
        pytest.param([], "", ["claude", "default", "gpt-4o", "hab/llama3"], id="default-first-extra-model"),
    ],
)
def test_the_other_providers_models_are_lenient_unless_strict(completion_probes, backends, default_model, lenient):
    probes = completion_probes(
        NAMES, URL, "LITELLM_MASTER_KEY", backends=backends, extra_models=EXTRA, default_model=default_model
    )
    assert [p["name"] for p in probes if not p["strict"]] == lenient
    assert [p["name"] for p in probes if p["strict"]] == [n for n in NAMES if n not in lenient]


def test_an_extra_model_named_default_is_lenient(completion_probes):
    extra = [{"alias": "default", "model": "openai/gpt-4o", "api_key_env": "OPENAI_API_KEY"}]
    probes = completion_probes(["akira/q", "default"], URL, backends=BACKENDS, extra_models=extra)
    assert {p["name"]: p["strict"] for p in probes} == {"akira/q": True, "default": False}
