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
