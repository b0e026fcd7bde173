# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the monitoring host scrapes, derived from the inventory's groups, in one place.

The monitoring host (the group llm_monitoring_hosts) runs Prometheus; it reads, over the tailnet, at each host's
inventory name (its MagicDNS name):
- LiteLLM's /metrics on every gateway (llm_gateways), at its litellm_metrics_port: a port of its own that LiteLLM
  serves without a key (--prometheus_metrics_port), which firewalld opens to the monitoring hosts alone, while the
  gateway's port, which the clients reach, keeps refusing their keys on /metrics; a gateway whose inventory sets
  litellm_metrics to false is not read;
- vLLM's /metrics of every backend that listens beyond loopback: the local backends of every model host that
  gateways other than itself use (a gateway serving only itself keeps vLLM on loopback, out of reach);
- node exporter on every host of the service (gateways, model hosts, the state host, the monitoring hosts);
- the Redis and PostgreSQL exporters on the state host (llm_state_hosts);
- a GPU exporter on every host that serves vLLM itself with a GPU profile (vllm_accelerator rocm: AMD's Device
  Metrics Exporter; cuda: NVIDIA's DCGM exporter), which tailnet.llm.vllm runs beside vLLM when a monitoring host
  reads the host.
Each target carries the label `host`, the inventory name, which the alerts and dashboards group by.
The exporters' ports are fixed here; the monitoring role's vars/main.yml uses the same (a unit test checks it).
"""

from __future__ import annotations

from ansible_collections.tailnet.llm.plugins.plugin_utils.backends import (
    GATEWAYS,
    MODEL_HOSTS,
    local_backends,
    serves_other_gateways,
)

MONITORING_HOSTS = "llm_monitoring_hosts"
STATE_HOSTS = "llm_state_hosts"
# The exporters' ports (the packages' defaults).
NODE_EXPORTER_PORT = 9100
REDIS_EXPORTER_PORT = 9121
POSTGRES_EXPORTER_PORT = 9187
# The port of the gateway's metrics when its host says none (tailnet.llm.litellm's litellm_metrics_port).
GATEWAY_METRICS_PORT = 4001
# The GPU exporter's port per accelerator profile (each exporter's default), and the profile of a model host that
# says none (tailnet.llm.vllm's vllm_accelerator).
GPU_EXPORTER_PORTS = {"rocm": 5000, "cuda": 9400}
DEFAULT_ACCELERATOR = "rocm"


def _port(value, where):
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = 0
    if isinstance(value, bool) or not 1 <= port <= 65535:
        raise ValueError(f"{where} is {value!r}: it must be a port number from 1 to 65535")
    return port


def _url_host(host):
    return f"[{host}]" if ":" in host else host


def _target(host, port):
    return f"{_url_host(host)}:{port}"


def monitored_hosts(groups):
    """Every host of the service, once, in the inventory's order: gateways, model hosts, state, monitoring."""
    names = (GATEWAYS, MODEL_HOSTS, STATE_HOSTS, MONITORING_HOSTS)
    return list(dict.fromkeys(host for group in names for host in groups.get(group) or []))


def gateway_metrics_port(host, groups, hostvars):
    """The port of HOST's LiteLLM metrics when HOST is a gateway whose metrics are read, else None."""
    if host not in (groups.get(GATEWAYS) or []) or hostvars[host].get("litellm_metrics", True) is False:
        return None
    return _port(hostvars[host].get("litellm_metrics_port", GATEWAY_METRICS_PORT), f"host {host}: litellm_metrics_port")


def vllm_scraped(host, groups):
    """Whether the monitoring host can read HOST's vLLM servers: they listen on the tailnet only when gateways
    other than HOST use them (tailnet.llm.fleet's vllm_bind_address)."""
    return serves_other_gateways(host, groups)


def gpu_exporter_port(host, groups, hostvars):
    """The port of HOST's GPU exporter when monitoring hosts read HOST and it serves vLLM itself (local backends)
    with a GPU profile, else None."""
    if not groups.get(MONITORING_HOSTS) or host not in monitored_hosts(groups):
        return None
    if not local_backends(hostvars[host].get("vllm_backends") or []):
        return None
    return GPU_EXPORTER_PORTS.get(hostvars[host].get("vllm_accelerator", DEFAULT_ACCELERATOR))


def scrape_targets(groups, hostvars):
    """{job: Prometheus static_configs} for every job the inventory gives targets to, in a fixed job order.

    Raises ValueError naming the host and variable when a port is not a port.
    """
    jobs = {}
    litellm = [
        {"targets": [_target(h, port)], "labels": {"host": h}}
        for h in groups.get(GATEWAYS) or []
        if (port := gateway_metrics_port(h, groups, hostvars)) is not None
    ]
    vllm = []
    for h in dict.fromkeys([*(groups.get(MODEL_HOSTS) or []), *(groups.get(GATEWAYS) or [])]):
        if not vllm_scraped(h, groups):
            continue
        for backend in local_backends(hostvars[h].get("vllm_backends") or []):
            port = _port(backend.get("port"), f"host {h}: vllm_backends ({backend.get('name')}).port")
            vllm.append({"targets": [_target(h, port)], "labels": {"host": h, "backend": backend.get("name")}})
    node = [{"targets": [_target(h, NODE_EXPORTER_PORT)], "labels": {"host": h}} for h in monitored_hosts(groups)]
    state = list(groups.get(STATE_HOSTS) or [])
    redis = [{"targets": [_target(h, REDIS_EXPORTER_PORT)], "labels": {"host": h}} for h in state]
    postgresql = [{"targets": [_target(h, POSTGRES_EXPORTER_PORT)], "labels": {"host": h}} for h in state]
    gpu = [
        {
            "targets": [_target(h, port)],
            "labels": {"host": h, "accelerator": hostvars[h].get("vllm_accelerator", DEFAULT_ACCELERATOR)},
        }
        for h in monitored_hosts(groups)
        if (port := gpu_exporter_port(h, groups, hostvars)) is not None
    ]
    for job, configs in (
        ("litellm", litellm),
        ("vllm", vllm),
        ("node", node),
        ("redis", redis),
        ("postgresql", postgresql),
        ("gpu", gpu),
    ):
        if configs:
            jobs[job] = configs
    return jobs


def exporter_ports(host, groups, hostvars):
    """The TCP ports (as PORT/tcp) on HOST that the monitoring hosts read: node exporter, the state host's
    exporters, a gateway's LiteLLM metrics port, the vLLM servers that listen on the tailnet and the GPU exporter."""
    if host not in monitored_hosts(groups):
        return []
    ports = [NODE_EXPORTER_PORT]
    if host in (groups.get(STATE_HOSTS) or []):
        ports += [REDIS_EXPORTER_PORT, POSTGRES_EXPORTER_PORT]
    if (metrics_port := gateway_metrics_port(host, groups, hostvars)) is not None:
        ports.append(metrics_port)
    if vllm_scraped(host, groups):
        ports += [
            _port(b.get("port"), f"host {host}: vllm_backends ({b.get('name')}).port")
            for b in local_backends(hostvars[host].get("vllm_backends") or [])
        ]
    if (gpu_port := gpu_exporter_port(host, groups, hostvars)) is not None:
        ports.append(gpu_port)
    return [f"{port}/tcp" for port in dict.fromkeys(ports)]
