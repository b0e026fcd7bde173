# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.tailnet.llm.plugins.plugin_utils.fleet import fleet

DOCUMENTATION = r"""
name: fleet
short_description: How a host uses the other hosts of the inventory, from its groups
description:
  - Returns, for one host, the value of one role variable that the collection takes from the rest of the
    inventory; each role's defaults read theirs from here, so an inventory holds only site facts and every value
    stays overridable.
  - C(vllm_bind_address) is the host's tailnet IPv4 address when gateways other than itself (C(llm_gateways)) use
    its vLLM servers, else C(127.0.0.1); C(vllm_gateway_sources) the tailnet addresses of those gateways.
  - C(vllm_gpu_exporter_port) is the port of the GPU exporter a host serving vLLM itself runs for the monitoring
    host (C(vllm_accelerator) C(rocm) 5000, C(cuda) 9400; the profile defaults to C(rocm)) when there is a
    monitoring host, else 0.
  - C(litellm_redis_host) and C(litellm_database_host) name the state host (the first of C(llm_state_hosts)), or
    are empty; C(litellm_database_migrate) is true on the first gateway only (it migrates the shared database).
  - C(litellm_metrics) is true when there is a monitoring host (C(llm_monitoring_hosts)), for which the gateways
    then serve LiteLLM's Prometheus metrics.
  - C(state_store_bind_address) is the state host's tailnet IPv4 address and C(state_store_sources) the gateways'
    tailnet addresses when there are gateways, else C(127.0.0.1) and none.
  - C(ask_cli_base_url) is the first gateway's URL (C(http://NAME:PORT), its C(litellm_port) or 4000).
  - When there is a monitoring host (C(llm_monitoring_hosts)) and the host is one of the service's,
    C(monitoring_exporter_address) is its tailnet IPv4 address (else C(127.0.0.1)), C(monitoring_sources) the
    monitoring hosts' tailnet addresses and C(monitoring_exporter_ports) the ports they read on it (node exporter,
    the state host's exporters, a gateway's C(litellm_metrics_port) (4001), vLLM where it listens on the tailnet,
    the GPU exporter), else none.
  - Addresses come from the hosts' network facts (C(gather_subset=network)); the filter fails naming the host
    whose facts are missing only where an address is needed.
extends_documentation_fragment:
  - tailnet.llm.inventory.groups
  - tailnet.llm.inventory.hostvars
options:
  _input:
    description: The host's inventory name (C(inventory_hostname)).
    type: str
    required: true
  name:
    description: The role variable whose value is wanted.
    type: str
    required: true
    choices: [vllm_bind_address, vllm_gateway_sources, vllm_gpu_exporter_port, litellm_redis_host,
              litellm_database_host, litellm_database_migrate, litellm_metrics, state_store_bind_address,
              state_store_sources, ask_cli_base_url,
              monitoring_exporter_address, monitoring_sources, monitoring_exporter_ports]
"""

EXAMPLES = r"""
# roles/vllm/defaults/main.yml
vllm_bind_address: "{{ inventory_hostname | tailnet.llm.fleet(groups, hostvars, 'vllm_bind_address') }}"
"""

RETURN = r"""
_value:
  description: The variable's value for the host (a string, a port, a list of addresses or a boolean, as the role
    takes it).
  type: raw
"""


def _fleet(host, groups, hostvars, name):
    try:
        return fleet(host, groups, hostvars, name)
    except (ValueError, LookupError) as e:
        raise AnsibleFilterError(f"fleet: {e}") from e


class FilterModule:
    def filters(self):
        return {"fleet": _fleet}
