"""Bad input to tailnet.llm.deploy_litellm (playbooks/deploy_litellm.yml) fails with a clear message and changes nothing.

The playbook runs for real against a throw-away container of the lab host image; afterwards the
container must hold none of the files the roles would write.
"""

import copy
import re
import subprocess
import uuid

import pytest
from helpers import DEPLOY, IMAGE, run_on_test_host

HOST = "lab-akira"
LITERAL_KEY = "sk-ant-api03-never-in-any-output"

GOOD = {
    "vllm_accelerator": "cpu",
    "vllm_backends": [
        {
            "name": "akira-local",
            "host": "127.0.0.1",
            "port": 8000,
            "models": [{"id": "smollm2-135m", "alias": "akira/smollm2-135m", "max_model_len": 2048}],
        }
    ],
    "litellm_backends": "{{ vllm_backends }}",  # as the runbook's inventory routes
    "litellm_env_secrets": {"LITELLM_MASTER_KEY": "sk-validation-test-key"},
}


@pytest.fixture(scope="module")
def target():
    name = f"tnllm-validate-{uuid.uuid4().hex[:8]}"
    subprocess.run(["podman", "run", "-d", "--name", name, IMAGE, "sleep", "infinity"], check=True, capture_output=True)
    yield name
    subprocess.run(["podman", "rm", "-f", "-t", "0", name], check=False, capture_output=True)


def _bad(**changes):
    hostvars = copy.deepcopy(GOOD)
    for path, value in changes.items():
        keys = path.split("__")
        node = hostvars
        for key in keys[:-1]:
            node = node[int(key)] if key.isdigit() else node[key]
        last = keys[-1]
        node[int(last) if last.isdigit() else last] = value
    return hostvars


SECOND_BACKEND = {
    "name": "tachikoma",
    "host": "tachikoma",
    "port": 8000,
    "models": [{"id": "x", "alias": "akira/smollm2-135m"}],
}


@pytest.mark.parametrize(
    ("hostvars", "expected"),
    [
        pytest.param(_bad(vllm_backends="akira-local"), "vllm_backends", id="not-a-list"),
        pytest.param(_bad(vllm_backends__0__models=[{"id": "smollm2-135m"}]), "alias", id="missing-alias"),
        pytest.param(
            _bad(vllm_backends__0__port=70000), f"host {HOST}: vllm_backends[0].port is 70000", id="port-out-of-range"
        ),
        pytest.param(_bad(vllm_accelerator="tpu"), "vllm_accelerator", id="unknown-accelerator"),
        pytest.param(
            _bad(vllm_backends=[*GOOD["vllm_backends"], SECOND_BACKEND]),
            f"host {HOST}: vllm_backends[1].models[0].alias: alias 'akira/smollm2-135m' is duplicated",
            id="duplicate-alias",
        ),
        pytest.param(
            _bad(
                litellm_extra_models=[
                    {"alias": "default", "model": "ollama_chat/llama3", "api_base": "http://hab:11434"}
                ],
                litellm_default_model="akira/smollm2-135m",
            ),
            f"host {HOST}: the alias 'default' is defined twice",
            id="default-twice",
        ),
        pytest.param(
            _bad(litellm_backends=[{"name": "tachikoma", "port": 8000, "models": [{"id": "x", "alias": "t/x"}]}]),
            f"host {HOST}: litellm_backends[0].host is None: it must be a non-empty string",
            id="gateway-backend-without-host",
        ),
        pytest.param(
            _bad(
                litellm_extra_models=[
                    {"alias": "claude-sonnet", "model": "anthropic/claude-sonnet-4-5", "api_key": LITERAL_KEY}
                ]
            ),
            f"host {HOST}: litellm_extra_models[0].api_key is a key written into the inventory, which is refused",
            id="literal-provider-key",
        ),
        pytest.param(
            _bad(
                litellm_extra_models=[
                    {
                        "alias": "gpt-4o",
                        "model": "openai/gpt-4o",
                        "api_key_env": "OPENAI_API_KEY",
                        "max_input_tokens": 128000,
                    },
                    {
                        "alias": "claude-sonnet",
                        "model": "anthropic/claude-sonnet-4-5",
                        "api_key_env": "ANTHROPIC_API_KEY",
                        "max_input_tokens": 200000,
                        "fallbacks": ["gpt-4o"],
                    },
                ],
                litellm_env_secrets={
                    "LITELLM_MASTER_KEY": "sk-validation-test-key",
                    "OPENAI_API_KEY": "sk-o",
                    "ANTHROPIC_API_KEY": "sk-a",
                },
            ),
            f"host {HOST}: litellm_extra_models[1].fallbacks[0]: 'gpt-4o' has a smaller context window",
            id="fallback-to-a-smaller-window",
        ),
        pytest.param(
            _bad(litellm_keyvault_secrets={"LITELLM_MASTER_KEY": "litellm-master-key"}),
            f"host {HOST}: litellm_keyvault_secrets and vllm_keyvault_secrets are no longer used",
            id="retired-keyvault-mapping",
        ),
        pytest.param(
            _bad(litellm_env_secrets={}),
            f"host {HOST}: litellm_env_secrets must hold LITELLM_MASTER_KEY",
            id="no-master-key",
        ),
        pytest.param(
            _bad(
                litellm_clients="{{ {'llm_clients': ['motoko']} | tailnet.llm.gateway_clients("
                "{'motoko': {'llm_client_key': 'sk-m', 'llm_client_users': [{'name': 'case'}]}}) }}"
            ),
            "gateway_clients: host motoko: llm_client_users[0] (case) has no key in llm_client_user_keys",
            id="client-user-without-a-key",
        ),
        pytest.param(
            _bad(firewalld_sources=["100.64.0.0/33"]),
            f"host {HOST}: firewalld_sources: 100.64.0.0/33 is no IP address or CIDR range",
            id="bad-source",
        ),
    ],
)
def test_bad_input_fails_before_any_change(target, tmp_path, hostvars, expected):
    rc, output, _recap = run_on_test_host(DEPLOY, HOST, target, hostvars, tmp_path)
    assert rc != 0
    # The callback wraps long messages over lines.
    assert expected in re.sub(r"\s+", " ", output), output[-3000:]
    assert LITERAL_KEY not in output
    assert "changed=0" in output
    leftovers = subprocess.run(
        [
            "podman",
            "exec",
            target,
            "sh",
            "-c",
            "ls -d /flux /etc/systemd/system/vllm.service /etc/systemd/system/litellm.service 2>/dev/null",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert leftovers == ""
    assert "sk-validation-test-key" not in output


def test_good_input_passes_validation(target, tmp_path):
    """The same harness with good input gets past every role's checks, so the failures above are theirs."""
    play = tmp_path / "validate.yml"
    play.write_text(
        "- hosts: llm_gateways\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.include_role: {name: '{{ item }}', tasks_from: validate}\n"
        "      loop: [tailnet.llm.vllm, tailnet.llm.litellm, tailnet.llm.firewalld]\n"
    )
    rc, output, _recap = run_on_test_host(play, HOST, target, GOOD, tmp_path)
    assert rc == 0, output[-3000:]
