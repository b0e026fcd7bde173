import pytest
from ansible.plugins.loader import filter_loader

SECRET = "sk-never-in-a-message-7e1f"


@pytest.fixture(scope="module")
def env_problems():
    return filter_loader.get("tailnet.llm.env_problems").j2_function


def test_good_environment(env_problems):
    assert env_problems({"litellm_env": {"A_1": "x", "_B": 3}, "litellm_env_secrets": {"KEY": SECRET}}) == []


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"HF TOKEN": SECRET}, 'litellm_env_secrets: "HF TOKEN" is not an environment variable name'),
        ({"1X": SECRET}, 'litellm_env_secrets: "1X" is not an environment variable name'),
        ({"": SECRET}, 'litellm_env_secrets: "" is not an environment variable name'),
        ({"KEY": SECRET + "\n"}, "litellm_env_secrets.KEY: the value must be one line of text"),
        ({"KEY": [SECRET]}, "litellm_env_secrets.KEY: the value must be one line of text"),
        ({"KEY": {"a": SECRET}}, "litellm_env_secrets.KEY: the value must be one line of text"),
    ],
)
def test_problem_names_variable_and_entry_never_the_value(env_problems, env, expected):
    (problem,) = env_problems({"litellm_env_secrets": env})
    assert problem.startswith(expected)
    assert SECRET not in problem
