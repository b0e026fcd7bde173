"""The vllm role's checks for a model host that other gateways use: run by Ansible on the controller."""

import pytest
from helpers import failures

BACKENDS = [{"name": "wintermute-local", "host": "127.0.0.1", "port": 8000, "models": [{"id": "m", "alias": "w/m"}]}]
KEY = {"VLLM_API_KEY": "vllm-key-never-shown-3c1d"}
SERVED = {"vllm_accelerator": "cpu", "vllm_backends": BACKENDS, "vllm_gateway_sources": ["100.64.10.2"]}
CASES = {
    "loopback": ({**SERVED, "vllm_env_secrets": KEY}, "vllm_bind_address must be an address beyond loopback"),
    "no-key": ({**SERVED, "vllm_bind_address": "100.64.10.5"}, "vllm_env_secrets must hold VLLM_API_KEY"),
    "empty-key": (
        {**SERVED, "vllm_bind_address": "100.64.10.5", "vllm_env_secrets": {"VLLM_API_KEY": ""}},
        "vllm_env_secrets must hold VLLM_API_KEY",
    ),
    "served": ({**SERVED, "vllm_bind_address": "100.64.10.5", "vllm_env_secrets": KEY}, None),
    "only-itself": ({"vllm_accelerator": "cpu", "vllm_backends": BACKENDS}, None),
}


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    return failures("vllm", "validate.yml", {k: v[0] for k, v in CASES.items()}, tmp_path_factory.mktemp("vllm"))


@pytest.mark.parametrize("case", sorted(CASES))
def test_check(checked, case):
    expected = CASES[case][1]
    if expected is None:
        assert checked[case] is None
    else:
        assert checked[case], f"{case} was accepted"
        assert checked[case].startswith("host localhost: vllm_gateway_sources lets 100.64.10.2 reach vLLM, so ")
        assert expected in checked[case]
        assert KEY["VLLM_API_KEY"] not in checked[case]
