# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: azure_keyvault
short_description: Read secrets from Azure Key Vault, concurrently
description:
  - Returns the values of the named secrets of one Azure Key Vault, in the order of the terms.
  - One credential and one client serve all terms of a call, and the terms are fetched concurrently. The
    token is reused by later lookups in the same process.
  - Values are marked unsafe, so Jinja never templates them. Errors name the vault and each secret that
    failed, say what to do, and never contain a secret value.
options:
  _terms:
    description: Secret names, each C(name) (latest version) or C(name/version); lists are flattened.
    type: list
    elements: str
    required: true
  default:
    description:
      - Value returned for a secret (or version) that does not exist. Without it a missing secret is an error.
      - Any other failure (forbidden, not logged in, unreachable, timeout) is always an error.
    type: raw
  max_concurrency:
    description: At most this many secrets are fetched at the same time.
    type: int
    default: 32
    env:
      - name: AZURE_KEYVAULT_MAX_CONCURRENCY
    vars:
      - name: azure_keyvault_max_concurrency
    ini:
      - section: azure_keyvault
        key: max_concurrency
extends_documentation_fragment:
  - tailnet.llm.azure_keyvault
"""

EXAMPLES = r"""
- name: Fetch the gateway's secrets in one call (vault_url from azure_keyvault_url)
  ansible.builtin.set_fact:
    litellm_env_secrets: "{{ dict(names | zip(values)) }}"
  vars:
    names: [LITELLM_MASTER_KEY, OPENAI_API_KEY]
    values: "{{ lookup('tailnet.llm.azure_keyvault', 'litellm-master-key', 'openai-api-key', wantlist=true) }}"
  no_log: true

- name: A pinned version, with a service principal from AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET
  ansible.builtin.set_fact:
    hf_token: >-
      {{ lookup('tailnet.llm.azure_keyvault', 'hf-token/0f1e2d3c4b5a69788796a5b4c3d2e1f0',
                vault_url='https://kv-miket-ops.vault.azure.net', auth='service_principal') }}
  no_log: true

- name: An optional secret
  ansible.builtin.set_fact:
    anthropic_key: "{{ lookup('tailnet.llm.azure_keyvault', 'anthropic-api-key', default='') }}"
  no_log: true
"""

RETURN = r"""
_raw:
  description: The secret values, in the order of the terms (the default for missing ones, when given).
  type: list
  elements: str
"""

import time  # noqa: E402

from ansible.errors import AnsibleError  # noqa: E402
from ansible.plugins.lookup import LookupBase  # noqa: E402
from ansible.utils.display import Display  # noqa: E402
from ansible.utils.unsafe_proxy import wrap_var  # noqa: E402
from ansible_collections.tailnet.llm.plugins.plugin_utils._azure_keyvault_client import fetch_secrets  # noqa: E402

display = Display()


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        # Ansible hands variables to lookups untemplated: template ours (azure_keyvault_url may be
        # "https://{{ vault_name }}.vault.azure.net" in the inventory) before the options read them.
        variables = variables or {}
        own = {name: variables[name] for name in variables if name.startswith("azure_keyvault_")}
        if self._templar is not None:
            own = {name: self._templar.template(value) for name, value in own.items()}
        self.set_options(var_options=own, direct=kwargs)
        unknown = sorted(set(kwargs) - set(self._options))
        if unknown:
            raise AnsibleError(
                f"azure_keyvault: unknown option(s) {', '.join(unknown)}; the options are "
                f"{', '.join(sorted(o for o in self._options if not o.startswith('_')))}"
            )
        # Every documented option (this plugin's and the doc fragment's) but the terms and the default.
        options = {name: self.get_option(name) for name in self._options if name not in ("_terms", "default")}
        extra = {"default": self.get_option("default")} if "default" in kwargs else {}
        start = time.monotonic()
        values = fetch_secrets(self._flatten(terms), options, **extra)
        display.vvv(
            f"azure_keyvault: {len(values)} secret(s) from {options['vault_url']} with auth={options['auth']} "
            f"in {time.monotonic() - start:.2f} s"
        )
        return [wrap_var(value) for value in values]
