import pytest
from ansible.plugins.loader import filter_loader


def _backend(name, port=8000, host="127.0.0.1"):
    return {"name": name, "host": host, "port": port, "models": [{"id": "m", "alias": f"{name}/m"}]}


HOSTVARS = {
    "akira": {"vllm_backends": [_backend("akira-local"), _backend("tachikoma", host="tachikoma")]},
    "wintermute": {"vllm_backends": [_backend("wintermute-local"), _backend("wintermute-second", 8001)]},
    "kuze": {},
}


@pytest.fixture(scope="module")
def gateway_backends():
    return filter_loader.get("tailnet.llm.gateway_backends").j2_function


def test_a_lone_gateway_routes_to_its_own_list(gateway_backends):
    """The runbook's inventory: akira alone, not in llm_model_hosts; its list may name another host's server."""
    assert gateway_backends("akira", {"llm_gateways": ["akira"]}, HOSTVARS) == HOSTVARS["akira"]["vllm_backends"]


def test_other_model_hosts_are_reached_by_name_with_the_key(gateway_backends):
    groups = {"llm_gateways": ["akira"], "llm_model_hosts": ["akira", "wintermute"]}
    assert gateway_backends("akira", groups, HOSTVARS) == [
        _backend("akira-local"),
        _backend("tachikoma", host="tachikoma"),
        {**_backend("wintermute-local", host="wintermute"), "api_key_env": "VLLM_API_KEY"},
        {**_backend("wintermute-second", 8001, host="wintermute"), "api_key_env": "VLLM_API_KEY"},
    ]


def test_a_model_host_used_by_another_gateway_is_reached_by_name_by_itself_too(gateway_backends):
    """Its vLLM then listens on its tailnet address, not on loopback."""
    groups = {"llm_gateways": ["akira", "kuze"], "llm_model_hosts": ["akira"]}
    remote_akira = {**_backend("akira-local", host="akira"), "api_key_env": "VLLM_API_KEY"}
    assert gateway_backends("akira", groups, HOSTVARS) == [remote_akira, _backend("tachikoma", host="tachikoma")]
    assert gateway_backends("kuze", groups, HOSTVARS) == [remote_akira]
