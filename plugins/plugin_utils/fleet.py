# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the hosts of the inventory use each other, derived from its groups, in one place.

The roles' defaults read these through the filter tailnet.llm.fleet, so that an inventory holds only site facts
(hosts, groups, each host's vllm_backends, models, keys and secrets' names) and the collection wires the hosts
together:
- a model host (llm_model_hosts, or a gateway that lists vllm_backends) that gateways other than itself use
  listens on its tailnet IPv4 address and lets only those gateways' tailnet addresses in;
- the state host (llm_state_hosts, at most one) listens on its tailnet IPv4 address and lets only the gateways in;
  the gateways keep their shared state there (Redis and, in LiteLLM's database mode, PostgreSQL), and the first
  gateway of the rollout migrates the database;
- a client talks to the first gateway unless it says otherwise;
- when there is a monitoring host (llm_monitoring_hosts), every host of the service runs its exporters on its
  tailnet IPv4 address and lets only the monitoring hosts' tailnet addresses in to them (plugin_utils.monitoring),
  and every gateway serves LiteLLM's Prometheus metrics on a port of their own, which is among those ports, as is
  the GPU exporter a model host with a GPU profile runs then (0: none).
Addresses come from network facts (tailnet_addresses); a value that needs none is computed without them, so a
role applied to one host alone, with no groups, works.
"""

from __future__ import annotations

from ansible_collections.tailnet.llm.plugins.plugin_utils.backends import GATEWAYS, serves_other_gateways
from ansible_collections.tailnet.llm.plugins.plugin_utils.firewall import tailnet_addresses
from ansible_collections.tailnet.llm.plugins.plugin_utils.monitoring import (
    MONITORING_HOSTS,
    exporter_ports,
    gpu_exporter_port,
    monitored_hosts,
)

STATE_HOSTS = "llm_state_hosts"
# The gateway's port when its host says none (tailnet.llm.litellm's litellm_port).
GATEWAY_PORT = 4000


def state_host(groups):
    """The state host's inventory name (its MagicDNS name), or "" without one."""
    return next(iter(groups.get(STATE_HOSTS) or []), "")


def _tailnet_ipv4(host, hostvars):
    addresses = tailnet_addresses([host], hostvars, family=4)
    if not addresses:
        raise LookupError(f"host {host} has no IPv4 address in the tailnet's ranges to listen on")
    return addresses[0]


def _gateways(groups):
    return list(groups.get(GATEWAYS) or [])


def _gateway_url(host, groups, hostvars):
    gateways = _gateways(groups)
    if not gateways:
        return ""
    return f"http://{gateways[0]}:{hostvars.get(gateways[0], {}).get('litellm_port', GATEWAY_PORT)}"


def _is_state_host_for_gateways(host, groups):
    return host == state_host(groups) and bool(_gateways(groups))


def _monitoring_hosts(host, groups):
    """The monitoring hosts when HOST is one they read, else none."""
    return list(groups.get(MONITORING_HOSTS) or []) if host in monitored_hosts(groups) else []


# Each value by the name of the role variable it is the default of: (host, groups, hostvars) -> value. Each is
# computed alone, so that a host reads only the network facts its own value needs.
WIRING = {
    "vllm_bind_address": lambda host, groups, hostvars: (
        _tailnet_ipv4(host, hostvars) if serves_other_gateways(host, groups) else "127.0.0.1"
    ),
    "vllm_gateway_sources": lambda host, groups, hostvars: tailnet_addresses(
        [gateway for gateway in _gateways(groups) if gateway != host], hostvars
    ),
    "vllm_gpu_exporter_port": lambda host, groups, hostvars: gpu_exporter_port(host, groups, hostvars) or 0,
    "litellm_redis_host": lambda host, groups, hostvars: state_host(groups),
    "litellm_database_host": lambda host, groups, hostvars: state_host(groups),
    "litellm_database_migrate": lambda host, groups, hostvars: _gateways(groups)[:1] in ([], [host]),
    "litellm_metrics": lambda host, groups, hostvars: bool(groups.get(MONITORING_HOSTS)),
    "state_store_bind_address": lambda host, groups, hostvars: (
        _tailnet_ipv4(host, hostvars) if _is_state_host_for_gateways(host, groups) else "127.0.0.1"
    ),
    "state_store_sources": lambda host, groups, hostvars: (
        tailnet_addresses(_gateways(groups), hostvars) if _is_state_host_for_gateways(host, groups) else []
    ),
    "ask_cli_base_url": _gateway_url,
    "monitoring_exporter_address": lambda host, groups, hostvars: (
        _tailnet_ipv4(host, hostvars) if _monitoring_hosts(host, groups) else "127.0.0.1"
    ),
    "monitoring_sources": lambda host, groups, hostvars: tailnet_addresses(_monitoring_hosts(host, groups), hostvars),
    "monitoring_exporter_ports": lambda host, groups, hostvars: (
        exporter_ports(host, groups, hostvars) if _monitoring_hosts(host, groups) else []
    ),
}


def fleet(host, groups, hostvars, name):
    """The value of role variable NAME for HOST (one of WIRING), from the rest of the inventory.

    Raises ValueError for an unknown NAME, LookupError naming the host whose network facts are missing where an
    address is needed.
    """
    if name not in WIRING:
        raise ValueError(f"{name!r} is not derived from the inventory (known: {', '.join(WIRING)})")
    return WIRING[name](host, groups, hostvars)
