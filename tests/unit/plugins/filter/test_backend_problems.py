import copy

import pytest
from ansible.plugins.loader import filter_loader

GOOD = [
    {
        "name": "akira-local",
        "host": "127.0.0.1",
        "port": 8000,
        "models": [{"id": "qwen2.5-7b", "alias": "akira/qwen2.5-7b", "max_model_len": 32768}],
    },
    {
        "name": "tachikoma",
        "host": "tachikoma",
        "port": 8000,
        "models": [{"id": "llama3-8b", "alias": "tachikoma/llama3-8b"}, {"id": "phi-4", "alias": "tachikoma/phi-4"}],
    },
]


@pytest.fixture(scope="module")
def backend_problems():
    return filter_loader.get("tailnet.llm.backend_problems").j2_function


def test_good_backends_have_no_problem(backend_problems):
    assert backend_problems(GOOD, default_model="akira/qwen2.5-7b", local=True) == []
    priced = _with([0, "models", 0, "input_cost_per_token"], 0)
    priced[0]["models"][0]["output_cost_per_token"] = 1e-6
    assert backend_problems(priced) == []


def _with(path, value):
    backends = copy.deepcopy(GOOD)
    target = backends
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return backends


@pytest.mark.parametrize(
    ("backends", "kwargs", "expected"),
    [
        pytest.param(_with([0, "port"], 70000), {}, "vllm_backends[0].port is 70000", id="port-too-high"),
        pytest.param(_with([1, "port"], 0), {}, "vllm_backends[1].port is 0", id="port-zero"),
        pytest.param(
            _with([1, "name"], "akira-local"),
            {},
            "vllm_backends[1].name 'akira-local' is already used by vllm_backends[0]",
            id="dup-name",
        ),
        pytest.param(_with([1, "models"], []), {}, "vllm_backends[1] (tachikoma) has no models", id="no-models"),
        pytest.param(
            _with([1, "models", 1, "alias"], "akira/qwen2.5-7b"),
            {},
            "vllm_backends[1].models[1].alias: alias 'akira/qwen2.5-7b' is duplicated: vllm_backends[0].models[0] already has it",
            id="dup-alias-across-backends",
        ),
        pytest.param(
            _with([1, "models", 1, "id"], "llama3-8b"),
            {},
            "vllm_backends[1].models[1].id 'llama3-8b' is already used by vllm_backends[1].models[0]",
            id="dup-id-in-backend",
        ),
        pytest.param(
            _with([1, "models", 0, "alias"], "default"),
            {"extra_models": [{"alias": "default", "model": "openai/gpt-4o"}]},
            "litellm_extra_models[0].alias: the alias 'default' is defined twice: vllm_backends[1].models[0] already has it",
            id="default-twice-in-models",
        ),
        pytest.param(
            _with([1, "models", 0, "alias"], "default"),
            {"default_model": "akira/qwen2.5-7b"},
            "the alias 'default' is defined twice: vllm_backends[1].models[0] has alias 'default' and litellm_default_model",
            id="default-twice-alias-and-variable",
        ),
        pytest.param(
            GOOD,
            {"default_model": "nope"},
            "litellm_default_model is 'nope', which is no configured alias",
            id="unknown-default",
        ),
        pytest.param(
            _with([0, "models"], [{"id": "a", "alias": "x/a"}, {"id": "b", "alias": "x/b"}]),
            {"local": True},
            "vllm_backends[0] (akira-local) is served on this host and lists several models (a, b)",
            id="local-backend-two-models",
        ),
        pytest.param(
            _with([0, "port"], 70000), {"var": "litellm_backends"}, "litellm_backends[0].port", id="names-the-variable"
        ),
        pytest.param(
            _with([0, "models", 0, "output_cost_per_token"], -1e-6),
            {},
            "vllm_backends[0].models[0].output_cost_per_token is -1e-06: it must be a number of US dollars per token",
            id="negative-price",
        ),
        pytest.param(
            _with([0, "models", 0, "input_cost_per_token"], "cheap"),
            {},
            "vllm_backends[0].models[0].input_cost_per_token is 'cheap'",
            id="price-not-a-number",
        ),
    ],
)
def test_problem_is_named(backend_problems, backends, kwargs, expected):
    problems = backend_problems(backends, **kwargs)
    assert any(expected in p for p in problems), problems


def test_remote_backend_may_serve_several_models(backend_problems):
    assert backend_problems(GOOD, local=True) == []
    assert len(GOOD[1]["models"]) == 2


@pytest.mark.parametrize(
    ("backends", "expected"),
    [
        pytest.param(["akira-local"], "litellm_backends[0] is 'akira-local': it must be a mapping", id="not-a-mapping"),
        pytest.param([{**GOOD[0], "name": None}], "litellm_backends[0].name is None", id="no-name"),
        pytest.param([{**GOOD[0], "host": 127}], "litellm_backends[0].host is 127", id="host-not-a-string"),
        pytest.param([{**GOOD[0], "models": "m"}], "litellm_backends[0].models is 'm'", id="models-not-a-list"),
        pytest.param([{**GOOD[0], "models": ["m"]}], "litellm_backends[0].models[0] is 'm'", id="model-not-a-mapping"),
        pytest.param(
            [{**GOOD[0], "models": [{"id": "m"}]}], "litellm_backends[0].models[0].alias is None", id="no-alias"
        ),
    ],
)
def test_malformed_backend_is_named(backend_problems, backends, expected):
    """litellm_backends' argument spec says only 'list of dicts': the filter checks the shape and names the entry."""
    problems = backend_problems(backends, var="litellm_backends")
    assert any(expected in p for p in problems), problems


def test_one_model_on_two_backends_is_two_deployments_of_one_alias(backend_problems):
    second = {**GOOD[0], "name": "wintermute-local", "host": "wintermute"}
    assert backend_problems([GOOD[0], second], var="litellm_backends") == []


def test_one_alias_for_two_different_models_is_duplicated(backend_problems):
    second = {**GOOD[0], "name": "wintermute-local", "models": [{"id": "other", "alias": "akira/qwen2.5-7b"}]}
    problems = backend_problems([GOOD[0], second], var="litellm_backends")
    assert problems == [
        "litellm_backends[1].models[0].alias: alias 'akira/qwen2.5-7b' is duplicated: "
        "litellm_backends[0].models[0] already has it"
    ]
