"""Revoking a client, or one user of a client, is an inventory edit and a re-run: after it, every gateway refuses
that key, and every other key still works, and no gateway restarted (its auth hook reads the clients' file again).

The test deploys the gateways from this machine as an operator would, with a whole client (HOST: its key and its
users') and one user of another client (HOST/USER) in llm_revoked_clients, checks that those keys get 401 on every
gateway and the others 200, then deploys again without them and checks that every key works again. Lab only
(TAILNET_LLM_FAULTS=yes), as the other fault tests.
"""

import json
import subprocess

import helpers
import pytest

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


def _callers(host):
    """(name on the gateways, client host, key file, a model it may call) of each caller from the client HOST, but
    those with a budget of their own (test_budgets.py spends it, and a spent budget refuses every request)."""
    return [
        (caller["name"], host, caller["key_file"], (caller["models"] or ["default"])[0])
        for caller in helpers.client_callers(host)
        if not caller["budget"]
    ]


def _proxies(gateways):
    """{gateway: its LiteLLM's process id}: the same after a change that needed no restart."""
    return {g.backend.host: g.check_output("systemctl show -p ExecMainPID --value litellm") for g in gateways}


def _statuses(callers, gateways):
    return {
        name: [helpers.client_request(client, gateway, model, key_file) for gateway in gateways]
        for name, client, key_file, model in callers
    }


def test_revoked_keys_are_refused_on_every_gateway_and_no_other(host, tmp_path):
    """Revokes a whole client (its key and its users') and one user of another client, at once."""
    groups = helpers.inventory_vars(host)["groups"]
    clients = [helpers.inventory_host(host, c) for c in groups["llm_clients"] if c in groups["llm_clients_linux"]]
    if helpers.inventory_vars(host)["inventory_hostname"] != groups["llm_clients"][0]:
        pytest.skip(f"one revocation shows it: {groups['llm_clients'][0]}'s test revokes")
    callers = [caller for client in clients for caller in _callers(client)]
    user = next((name for name, *_ in callers if "/" in name), None)
    assert user, "no client lists a user: nothing shows that one user's key can be revoked alone"
    whole = next(name for name, *_ in callers if "/" not in name and not user.startswith(name + "/"))
    revoked = {whole, user} | {name for name, *_ in callers if name.startswith(whole + "/")}
    gateways = helpers.group_hosts(host, "llm_gateways")
    proxies = _proxies(gateways)
    try:
        _deploy_gateways(host, tmp_path, [whole, user])
        assert _statuses(callers, gateways) == {
            name: ["401" if name in revoked else "200"] * len(gateways) for name, *_ in callers
        }
        assert _proxies(gateways) == proxies, "a gateway restarted to revoke a key"
    finally:
        _deploy_gateways(host, tmp_path, [])
    assert _statuses(callers, gateways) == {name: ["200"] * len(gateways) for name, *_ in callers}
    assert _proxies(gateways) == proxies, "a gateway restarted to let a key in again"
