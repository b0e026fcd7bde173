"""The local Tailscale API and Key Vault the playbook talks to."""

import json
import os

import pytest
from helpers import REPO, ansible_env, lab_inventory
from kvserver import KeyVaultServer
from tailscale_api import TailscaleAPIServer

VAULT_CLIENT_SECRET = "vault-reader-secret-0123456789"


@pytest.fixture
def tailscale():
    """The local Tailscale API (HTTPS, its own CA) with an OAuth client (policy_file) and an API key."""
    with TailscaleAPIServer(tailnet="example.com") as server:
        server.oauth_id, server.oauth_secret = server.add_oauth_client(("policy_file",))
        server.api_key = server.add_api_key()
        yield server


@pytest.fixture
def vault(tailscale):
    """A local Key Vault holding the Tailscale credentials under the inventory's secret names."""
    with KeyVaultServer() as server:
        server.reader = server.add_principal(secret=VAULT_CLIENT_SECRET)
        server.set_secret("tailscale-oauth-client-secret", tailscale.oauth_secret)
        server.set_secret("tailscale-api-key", tailscale.api_key)
        yield server


@pytest.fixture
def inventory(tmp_path):
    """The lab's hosts with the real group_vars/all/tailnet.yml: an inventory directory for ansible-playbook."""
    groups, hostvars = lab_inventory()
    directory = tmp_path / "inventory"
    (directory / "group_vars" / "all").mkdir(parents=True)
    (directory / "group_vars" / "all" / "tailnet.yml").symlink_to(REPO / "inventory/group_vars/all/tailnet.yml")
    children = {
        group: {"hosts": {h: hostvars[h] for h in hosts}} for group, hosts in groups.items() if group != "llm_clients"
    }
    children["llm_clients"] = {"children": {"llm_clients_linux": {}}}
    (directory / "hosts.json").write_text(json.dumps({"all": {"children": children}}))
    return directory


@pytest.fixture
def playbook_env(tailscale, vault):
    """ansible-playbook's environment and extra vars: the local API and vault, the vault's reader principal."""
    extra = {
        "tailscale_api_base_url": tailscale.url,
        "tailscale_tailnet": "example.com",
        "tailscale_api_ca_path": tailscale.ca_file,
        "tailscale_oauth_client_id": tailscale.oauth_id,
        "tailscale_policy_operators": ["group:ops", "autogroup:admin"],
        **vault.lookup_options(vault.reader),
    }
    env = ansible_env(REQUESTS_CA_BUNDLE=vault.ca_file, AZURE_CLIENT_SECRET=VAULT_CLIENT_SECRET)
    env["ANSIBLE_HOME"] = os.environ.get("ANSIBLE_HOME", str(REPO / "build" / "ansible"))
    return env, extra
