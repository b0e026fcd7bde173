import pytest
from ansible.plugins.loader import filter_loader

MODEL_LIST = [
    {"model_name": "akira/q", "litellm_params": {"model": "hosted_vllm/q"}},
    {"model_name": "default", "litellm_params": {"model": "hosted_vllm/q"}},
    {"model_name": "ollama/llama3", "litellm_params": {"model": "ollama_chat/llama3"}},
    {"model_name": "hab/*", "litellm_params": {"model": "ollama_chat/*"}},
]


@pytest.fixture(scope="module")
def filters():
    return {
        name: filter_loader.get(f"tailnet.llm.{name}").j2_function
        for name in ("served_names_problems", "litellm_served_names")
    }


def test_served_names_leave_out_wildcard_routes(filters):
    assert filters["litellm_served_names"](MODEL_LIST) == ["akira/q", "default", "ollama/llama3"]


def test_the_names_and_what_litellm_lists_for_a_wildcard_route_match(filters):
    """For hab/* LiteLLM 1.106.2 lists its cost map's Ollama models under hab/ (e.g. hab/llama2): accepted."""
    listed = ["akira/q", "default", "ollama/llama3", "hab/llama2", "hab/mistral"]
    assert filters["served_names_problems"](listed, MODEL_LIST) == []


@pytest.mark.parametrize(
    ("listed", "expected"),
    [
        pytest.param(["akira/q", "default"], ["'ollama/llama3' is not listed"], id="missing"),
        pytest.param(
            ["akira/q", "default", "ollama/llama3", "lab/broken"],
            ["'lab/broken' is listed, but no model and no wildcard route has it"],
            id="unexpected",
        ),
        pytest.param(
            ["akira/q", "default", "ollama/llama3", "habitat/x"],
            ["'habitat/x' is listed, but no model and no wildcard route has it"],
            id="prefix-is-not-the-wildcards",
        ),
    ],
)
def test_a_mismatch_is_named(filters, listed, expected):
    assert filters["served_names_problems"](listed, MODEL_LIST) == expected
