"""The runbook's inventory (inventory/hosts.yml and its group_vars and host_vars) passes the litellm role's checks,
as tailnet.llm.deploy_litellm runs them before any change, and its gateway serves the runbook's names.

Key Vault cannot be reached here: the test fills litellm_env_secrets with stand-in values under the names that
azure_keyvault_secrets.litellm maps, as the tailnet.llm.azure_keyvault role would, and gives each client a stand-in
key.
"""

import sys

import helpers

INVENTORY = helpers.REPO / "inventory" / "hosts.yml"


def test_the_runbooks_gateway_validates_and_serves_its_models(tmp_path):
    play = {
        "name": "The runbook's gateways",
        "hosts": "llm_gateways",
        "connection": "local",
        "gather_facts": False,
        "vars": {"ansible_python_interpreter": sys.executable},
        "tasks": [
            {
                "name": "Stand in for the Key Vault secrets",
                "ansible.builtin.set_fact": {
                    "litellm_env_secrets": "{{ dict(azure_keyvault_secrets.litellm.keys()"
                    " | zip(['sk-stand-in'] * azure_keyvault_secrets.litellm | length)) }}",
                    "azure_keyvault_secrets": {},
                    # the clients' keys are in Key Vault too: a stand-in key per client
                    "litellm_clients": "{{ groups | tailnet.llm.gateway_clients(dict(groups.llm_clients"
                    " | zip(groups.llm_clients | map('regex_replace', '^', 'sk-stand-in-')"
                    " | map('community.general.dict_kv', 'llm_client_key')))) }}",
                },
            },
            {
                "name": "Validate",
                "ansible.builtin.include_role": {
                    "name": "tailnet.llm.litellm",
                    "tasks_from": "validate",
                    "public": True,
                },
            },
            {
                "name": "Names",
                "ansible.builtin.debug": {
                    "msg": "{{ litellm_backends | tailnet.llm.litellm_model_list(litellm_extra_models,"
                    " litellm_default_model) | tailnet.llm.litellm_served_names }}"
                },
            },
            {
                "name": "Fallbacks",
                "ansible.builtin.debug": {
                    "msg": "{{ litellm_extra_models | tailnet.llm.litellm_fallbacks(litellm_backends,"
                    " litellm_default_model) }}"
                },
            },
        ],
    }
    results = helpers.run_local_plays([play], tmp_path, inventory=INVENTORY, host="akira")
    assert results["Names"]["msg"] == [
        "akira/qwen2.5-7b",
        "claude-sonnet",
        "default",
        "gemini-flash",
        "gemini-pro",
        "gpt-4o",
        "ollama/llama3",
    ]
    assert {"claude-sonnet": ["gpt-4o"]} in results["Fallbacks"]["msg"]
