"""A deploy whose change breaks the gateway is rolled back on that gateway, and the deploy stops there.

The test deploys, from this machine as an operator would, a configuration with an alias whose model no
backend serves. It changes the lab (and puts it back): TAILNET_LLM_FAULTS=yes only, as the other fault tests.
"""

import json
import os
import subprocess

import helpers
import pytest

if os.environ.get("TAILNET_LLM_FAULTS") != "yes":
    raise pytest.UsageError("tests/testinfra/faults change services: set TAILNET_LLM_FAULTS=yes to run them (lab only)")

testinfra_hosts = ["ansible://llm_gateways"]

BROKEN = {"alias": "lab/broken", "model": "hosted_vllm/no-such-model", "api_base": "http://127.0.0.1:8000/v1"}
CHAT = {"messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 4, "model": "default"}


def _config_and_backups(host):
    base = helpers.gateway_settings(host)["base_dir"]
    with host.sudo():
        config = host.file(f"{base}/config.yaml").content_string
        backups = host.run("ls -A %s /etc/systemd/system", base).stdout.split()
    return config, sorted(name for name in backups if name.endswith("~"))


def test_a_breaking_change_is_rolled_back(host, tmp_path):
    name = helpers.inventory_vars(host)["inventory_hostname"]
    config_before, backups_before = _config_and_backups(host)
    extra = tmp_path / "broken.json"
    extra.write_text(json.dumps({"litellm_extra_models": [BROKEN]}))
    result = subprocess.run(
        [
            str(helpers.REPO / ".venv/bin/ansible-playbook"),
            "-i",
            host.backend.ansible_inventory,
            "tailnet.llm.deploy_litellm",
            "--limit",
            name,
            "-e",
            f"@{extra}",
        ],
        env=helpers.ansible_env(ANSIBLE_NOCOLOR="1", MOLECULE_PROJECT_DIRECTORY=str(helpers.REPO)),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert f"host {name}: litellm failed after the change: lab/broken answered" in output, output[-3000:]
    assert "Rolled back: the previous" in output
    config_after, backups_after = _config_and_backups(host)
    assert config_after == config_before, "config.yaml is not the previous one"
    assert backups_after == backups_before, "backups were left behind"
    status, body = helpers.gateway_request(host, "/v1/chat/completions", body=CHAT)
    assert status == 200, body[:500]
