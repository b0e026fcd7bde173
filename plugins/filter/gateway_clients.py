# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.tailnet.llm.plugins.plugin_utils.clients import gateway_clients

DOCUMENTATION = r"""
name: gateway_clients
short_description: The clients the gateways let in, with the hash of each one's key
description:
  - Returns, in the shape of C(litellm_clients), one entry per host of the group C(llm_clients) that has a key
    (C(llm_client_key)) and is not revoked, and one per user the host lists in C(llm_client_users) (named
    C(HOST/USER), with the user's key from C(llm_client_user_keys)) that is not revoked.
  - Each entry has C(name), C(key_sha256) (the SHA-256 of the key; the key itself never reaches a gateway),
    C(models) (C(llm_client_models); empty means every model), C(rpm_limit) and C(tpm_limit) (C(llm_client_rpm)
    and C(llm_client_tpm); null means none). A user's entry in C(llm_client_users) may give its own C(models),
    C(rpm) and C(tpm); otherwise the host's apply.
  - Fails naming the host, the variable and the entry when an entry of C(llm_client_users) is malformed, listed
    twice or has no key.
extends_documentation_fragment:
  - tailnet.llm.inventory.hostvars
options:
  _input:
    description: The inventory's groups (C(groups)).
    type: dict
    required: true
  revoked:
    description:
      - Names of clients whose keys the gateways refuse from now on; C(HOST) revokes the host's key and its users',
        C(HOST/USER) one user's.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
# group_vars/all: every gateway lets every client in with its own key.
litellm_clients: "{{ groups | tailnet.llm.gateway_clients(hostvars, revoked=llm_revoked_clients) }}"
"""

RETURN = r"""
_value:
  description: Entries with C(name), C(key_sha256), C(models), C(rpm_limit) and C(tpm_limit).
  type: list
  elements: dict
"""


def _gateway_clients(groups, hostvars, revoked=()):
    try:
        return gateway_clients(groups, hostvars, revoked)
    except ValueError as e:
        raise AnsibleFilterError(f"gateway_clients: {e}") from e


class FilterModule:
    def filters(self):
        return {"gateway_clients": _gateway_clients}
