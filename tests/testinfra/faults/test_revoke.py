"""Revoking a client is an inventory edit and a re-run: after it, every gateway refuses the client's key.

The test deploys the gateways from this machine as an operator would, with the client in llm_revoked_clients,
checks that its key gets 401 on every gateway, then deploys again without it and checks that the key works
again. Lab only (TAILNET_LLM_FAULTS=yes), as the other fault tests.
"""

import json
import os
import subprocess

import helpers
import pytest

if os.environ.get("TAILNET_LLM_FAULTS") != "yes":
    raise pytest.UsageError("tests/testinfra/faults change services: set TAILNET_LLM_FAULTS=yes to run them (lab only)")

testinfra_hosts = ["ansible://llm_clients_linux"]


def _deploy_gateways(host, tmp_path, revoked):
    extra = tmp_path / "revoked.json"
    extra.write_text(json.dumps({"llm_revoked_clients": revoked}))
    result = subprocess.run(
        [
            str(helpers.REPO / ".venv/bin/ansible-playbook"),
            *("-i", host.backend.ansible_inventory, "tailnet.llm.deploy_litellm"),
            *("--limit", "llm_gateways", "-e", f"@{extra}"),
        ],
        env=helpers.ansible_env(ANSIBLE_NOCOLOR="1", MOLECULE_PROJECT_DIRECTORY=str(helpers.REPO)),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]


def test_a_revoked_key_is_refused_on_every_gateway(host, tmp_path):
    hostvars = helpers.inventory_vars(host)
    name = hostvars["inventory_hostname"]
    first = next(c for c in hostvars["groups"]["llm_clients"] if c in hostvars["groups"]["llm_clients_linux"])
    if name != first:
        pytest.skip(f"one client's revocation shows it: {first}'s test revokes it")
    gateways = helpers.group_hosts(host, "llm_gateways")
    model = (hostvars.get("llm_client_models") or ["default"])[0]
    try:
        _deploy_gateways(host, tmp_path, [name])
        assert [helpers.client_request(host, gateway, model) for gateway in gateways] == ["401"] * len(gateways)
    finally:
        _deploy_gateways(host, tmp_path, [])
    assert [helpers.client_request(host, gateway, model) for gateway in gateways] == ["200"] * len(gateways)
