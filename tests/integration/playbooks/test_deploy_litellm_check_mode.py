"""`ansible-playbook --check --diff` of playbooks/akira/deploy-litellm.yml on a fresh host completes without
error, shows no secret and leaves the host as it was. (On a converged host, molecule's stack scenario runs the
same check and requires changed=0: molecule/stack/check-mode.yml.)
"""

import pytest
from helpers import DEPLOY, podman_exec, run_on_test_host, systemd_host

HOST = "fresh-akira"
SECRETS = {"master": "sk-check-mode-master-7c2d", "hf": "hf_check_mode_token_91ab"}
HOSTVARS = {
    "vllm_accelerator": "cpu",
    "vllm_image": "localhost/tailnet-llm/vllm-cpu:lab",
    "vllm_image_pull": False,
    "vllm_env_secrets": {"HF_TOKEN": SECRETS["hf"]},
    "vllm_backends": [
        {
            "name": "akira-local",
            "host": "127.0.0.1",
            "port": 8000,
            "models": [{"id": "smollm2-135m", "alias": "akira/smollm2-135m", "max_model_len": 2048}],
        }
    ],
    "litellm_backends": "{{ vllm_backends }}",  # as the runbook's inventory routes
    "litellm_image": "localhost/tailnet-llm/litellm",
    "litellm_image_tag": "lab",
    "litellm_image_pull": False,
    "litellm_env_secrets": {"LITELLM_MASTER_KEY": SECRETS["master"]},
}
LEFTOVERS = "ls -d /flux /etc/systemd/system/vllm.service /etc/systemd/system/litellm.service"


@pytest.fixture(scope="module")
def fresh():
    with systemd_host("tnllm-check") as name:
        yield name


def _state(host):
    return (
        podman_exec(host, "sh", "-c", LEFTOVERS + " 2>/dev/null", check=False).stdout,
        podman_exec(host, "sh", "-c", "firewall-cmd --list-all-zones 2>&1", check=False).stdout,
    )


def test_check_mode_on_a_fresh_host_completes_and_changes_nothing(fresh, tmp_path):
    before = _state(fresh)
    rc, output, recap = run_on_test_host(
        DEPLOY, HOST, fresh, HOSTVARS, tmp_path, "--check", "--diff", "-vvv", timeout=600
    )
    leaked = [name for name, value in SECRETS.items() if value in output]
    assert not leaked, f"secrets {leaked} appear in the output of --check --diff -vvv"
    assert recap, output[-4000:]
    assert rc == 0, output[-4000:]
    assert recap["unreachable"] == 0
    assert recap["failed"] == 0
    assert recap["changed"] > 0, "check mode on a fresh host must report what it would change"
    assert _state(fresh) == before, "check mode changed the host"
