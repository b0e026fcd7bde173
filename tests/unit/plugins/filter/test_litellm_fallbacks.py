import pytest
from ansible.plugins.loader import filter_loader

BACKENDS = [
    {"name": "akira-local", "host": "127.0.0.1", "port": 8000, "models": [{"id": "q", "alias": "akira/q"}]},
]
EXTRA = [
    {"alias": "claude-sonnet", "model": "anthropic/claude-sonnet-4-5", "fallbacks": ["gpt-4o", "akira/q"]},
    {"alias": "gpt-4o", "model": "openai/gpt-4o"},
    {"alias": "ollama/llama3", "model": "ollama_chat/llama3", "api_base": "http://hab:11434", "fallbacks": ["akira/q"]},
]


@pytest.fixture(scope="module")
def fallbacks():
    return filter_loader.get("tailnet.llm.litellm_fallbacks").j2_function


def test_one_chain_per_model_with_fallbacks_in_inventory_order(fallbacks):
    assert fallbacks(EXTRA, BACKENDS) == [
        {"claude-sonnet": ["gpt-4o", "akira/q"]},
        {"ollama/llama3": ["akira/q"]},
    ]


def test_default_falls_back_as_the_model_it_routes_to(fallbacks):
    assert fallbacks(EXTRA, BACKENDS, "claude-sonnet")[-1] == {"default": ["gpt-4o", "akira/q"]}


def test_default_routed_to_a_model_without_fallbacks_has_none(fallbacks):
    """default is the first model (akira/q), which has no fallbacks."""
    assert [next(iter(chain)) for chain in fallbacks(EXTRA, BACKENDS)] == ["claude-sonnet", "ollama/llama3"]


def test_no_fallbacks_no_chains(fallbacks):
    assert fallbacks([{"alias": "gpt-4o", "model": "openai/gpt-4o"}], BACKENDS) == []
