"""`ansible-playbook --check --diff` of the runbook's deploy commands (playbooks/akira/deploy-litellm.yml,
playbooks/deploy-ask-cli.yml; playbooks/secrets-sync.yml, which needs a deployed gateway, is run in check mode
by test_secrets_sync.py) on a fresh host completes without error, shows no
secret and leaves the host as it was. (On a converged host, molecule's stack scenario runs the deploy's check
and requires changed=0: molecule/stack/check-mode.yml.)
"""

import pytest
from helpers import DEPLOY, REPO, podman_exec, run_on_test_host, systemd_host

HOST = "fresh-akira"
SECRETS = {
    "master": "sk-check-mode-master-7c2d",
    "hf": "hf_check_mode_token_91ab",
    "client": "sk-check-mode-client-5e1f",
}
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
    "litellm_image": "localhost/tailnet-llm/litellm",
    "litellm_image_tag": "lab",
    "litellm_image_pull": False,
    "litellm_env_secrets": {"LITELLM_MASTER_KEY": SECRETS["master"]},
    "llm_client_key": SECRETS["client"],
}
LEFTOVERS = (
    "ls -d /flux /etc/systemd/system/vllm.service /etc/systemd/system/litellm.service /etc/ask /usr/local/bin/ask"
)
# The runbook's commands, as written there: each playbook path and the group its host is in.
RUNBOOK = {
    "deploy-litellm": (DEPLOY, "llm_gateways"),
    "deploy-ask-cli": (REPO / "playbooks/deploy-ask-cli.yml", "llm_clients"),
}


@pytest.fixture(scope="module")
def fresh():
    with systemd_host("tnllm-check") as name:
        yield name


def _state(host):
    return (
        podman_exec(host, "sh", "-c", LEFTOVERS + " 2>/dev/null", check=False).stdout,
        podman_exec(host, "sh", "-c", "firewall-cmd --list-all-zones 2>&1", check=False).stdout,
    )


@pytest.mark.parametrize("command", RUNBOOK)
def test_check_mode_on_a_fresh_host_completes_and_changes_nothing(fresh, tmp_path, command):
    playbook, group = RUNBOOK[command]
    before = _state(fresh)
    rc, output, recap = run_on_test_host(
        playbook, HOST, fresh, HOSTVARS, tmp_path, "--check", "--diff", "-vvv", timeout=600, group=group
    )
    leaked = [name for name, value in SECRETS.items() if value in output]
    assert not leaked, f"secrets {leaked} appear in the output of --check --diff -vvv"
    assert recap, output[-4000:]
    assert rc == 0, output[-4000:]
    assert recap["unreachable"] == 0
    assert recap["failed"] == 0
    assert recap["changed"] > 0, "check mode on a fresh host must report what it would change"
    assert _state(fresh) == before, "check mode changed the host"
