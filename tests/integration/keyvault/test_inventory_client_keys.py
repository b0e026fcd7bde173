"""The runbook inventory's client keys (inventory/group_vars/llm_clients.yml) come from Key Vault: the real lookup on
the controller against the local Key Vault server. Each client host's key is the secret llm-client-HOST, each user
it lists has the secret llm-client-HOST-USER (a character a secret name cannot hold becomes "-"), `ask` gets them,
and the gateway lets each in by its hash under HOST or HOST/USER.
"""

import hashlib
import json
import subprocess

from helpers import REPO, ansible_env
from kvserver import KeyVaultServer

CLIENT_SECRET = "inventory-keys-test-client-secret-7c2e"
USERS = [{"name": "case"}, {"name": "j.doe", "models": ["default"]}]


def _show(host, role, expression, vault, tmp_path):
    """The value of EXPRESSION on the runbook inventory's HOST with ROLE's defaults (what the role sees), with the
    lookup reaching VAULT and USERS listed."""
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({**vault.lookup_options(vault.reader), "llm_client_users": USERS}))
    play = {
        "hosts": host,
        "gather_facts": False,
        "tasks": [
            {"ansible.builtin.include_vars": {"file": str(REPO / "roles" / role / "defaults" / "main.yml")}},
            {"name": "show", "ansible.builtin.debug": {"msg": f"{{{{ {expression} | to_json }}}}"}},
        ],
    }
    (tmp_path / "show.json").write_text(json.dumps([play]))
    result = subprocess.run(
        [
            *(str(REPO / ".venv/bin/ansible-playbook"), "-i", str(REPO / "inventory/hosts.yml")),
            *(str(tmp_path / "show.json"), "-e", f"@{extra}"),
        ],
        env=ansible_env(
            ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
            REQUESTS_CA_BUNDLE=vault.ca_file,
            AZURE_CLIENT_SECRET=CLIENT_SECRET,
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    (task,) = [t for t in json.loads(result.stdout)["plays"][0]["tasks"] if t["task"]["name"] == "show"]
    return json.loads(task["hosts"][host]["msg"])


def test_each_client_and_each_listed_user_has_its_own_key_from_key_vault(tmp_path):
    secrets = {}
    with KeyVaultServer() as vault:
        vault.reader = vault.add_principal(secret=CLIENT_SECRET)
        for host in ("motoko", "armitage", "count-zero"):
            secrets[host] = f"sk-{host}-host-key"
            secrets[f"{host}/case"] = f"sk-{host}-case-key"
            secrets[f"{host}/j.doe"] = f"sk-{host}-jdoe-key"
            vault.set_secret(f"llm-client-{host}", secrets[host])
            vault.set_secret(f"llm-client-{host}-case", secrets[f"{host}/case"])
            vault.set_secret(f"llm-client-{host}-j-doe", secrets[f"{host}/j.doe"])
        client = _show("motoko", "ask_cli", "[ask_cli_api_key, ask_cli_user_keys]", vault, tmp_path)
        gateway = _show("akira", "litellm", "litellm_clients", vault, tmp_path)
    assert client == [secrets["motoko"], {"case": secrets["motoko/case"], "j.doe": secrets["motoko/j.doe"]}]
    assert [(c["name"], c["key_sha256"], c["models"]) for c in gateway] == [
        (name, hashlib.sha256(secrets[name].encode()).hexdigest(), ["default"] if name.endswith("j.doe") else [])
        for name in secrets
    ]
