# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.tailnet.llm.plugins.plugin_utils.monitoring import scrape_targets

DOCUMENTATION = r"""
name: scrape_targets
short_description: What the monitoring host's Prometheus reads, from the inventory's groups
description:
  - Returns, by Prometheus job, the static_configs of every target the inventory gives, each at the host's
    inventory name (its MagicDNS name) with the label C(host).
  - C(litellm) is every gateway (C(llm_gateways)) at its C(litellm_port) (4000); C(vllm) every local backend
    (C(vllm_backends) on loopback) of the model hosts whose vLLM listens on the tailnet (those that gateways other
    than themselves use), with the label C(backend); C(node) node exporter (9100) on every gateway, model host,
    state host and monitoring host; C(redis) (9121) and C(postgresql) (9187) the state host's exporters.
  - A job without targets is left out.
extends_documentation_fragment:
  - tailnet.llm.inventory.groups
  - tailnet.llm.inventory.hostvars
options: {}
"""

EXAMPLES = r"""
# roles/monitoring/defaults/main.yml
monitoring_scrape_targets: "{{ groups | tailnet.llm.scrape_targets(hostvars) }}"
"""

RETURN = r"""
_value:
  description: "{job: [{targets: [HOST:PORT], labels: {host: HOST}}]}, in the order litellm, vllm, node, redis,
    postgresql."
  type: dict
"""


def _scrape_targets(groups, hostvars):
    try:
        return scrape_targets(groups, hostvars)
    except ValueError as e:
        raise AnsibleFilterError(f"scrape_targets: {e}") from e


class FilterModule:
    def filters(self):
        return {"scrape_targets": _scrape_targets}
