"""What the monitoring host reads, from the inventory's groups (tailnet.llm.scrape_targets and the fleet's
monitoring_* wiring)."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible.plugins.loader import filter_loader


def _backend(name, port=8000, host="127.0.0.1"):
    return {"name": name, "host": host, "port": port, "models": [{"id": "m", "alias": f"{name}/m"}]}


# The lab's shape: akira gateway and model host, wintermute model host, kaneda gateway, tessier state host,
# clients, and a monitoring host.
GROUPS = {
    "llm_gateways": ["akira", "kaneda"],
    "llm_model_hosts": ["akira", "wintermute"],
    "llm_state_hosts": ["tessier"],
    "llm_clients": ["motoko"],
    "llm_monitoring_hosts": ["molly"],
}


def _facts(address):
    return {"ansible_facts": {"all_ipv4_addresses": [address, "198.18.10.2"], "all_ipv6_addresses": []}}


HOSTVARS = {
    "akira": {
        "vllm_backends": [_backend("akira-local"), _backend("tachikoma", host="tachikoma")],
        **_facts("100.64.10.2"),
    },
    "wintermute": {
        "vllm_backends": [_backend("w1"), _backend("w2", 8001)],
        "vllm_accelerator": "cuda",
        **_facts("100.64.10.3"),
    },
    "kaneda": {"litellm_port": 4100, "litellm_metrics_port": 4101, **_facts("100.64.10.4")},
    "tessier": _facts("100.64.10.6"),
    "motoko": _facts("100.64.10.7"),
    "molly": _facts("100.64.10.9"),
}


@pytest.fixture(scope="module")
def scrape_targets():
    return filter_loader.get("tailnet.llm.scrape_targets").j2_function


@pytest.fixture(scope="module")
def fleet():
    return filter_loader.get("tailnet.llm.fleet").j2_function


def test_every_part_of_the_service_is_read_at_its_inventory_name(scrape_targets):
    assert scrape_targets(GROUPS, HOSTVARS) == {
        "litellm": [
            {"targets": ["akira:4001"], "labels": {"host": "akira"}},
            {"targets": ["kaneda:4101"], "labels": {"host": "kaneda"}},
        ],
        # akira's local backend only (tachikoma is another host's server); both of wintermute's
        "vllm": [
            {"targets": ["akira:8000"], "labels": {"host": "akira", "backend": "akira-local"}},
            {"targets": ["wintermute:8000"], "labels": {"host": "wintermute", "backend": "w1"}},
            {"targets": ["wintermute:8001"], "labels": {"host": "wintermute", "backend": "w2"}},
        ],
        # no client: clients are not the service's hosts
        "node": [
            {"targets": [f"{h}:9100"], "labels": {"host": h}}
            for h in ("akira", "kaneda", "wintermute", "tessier", "molly")
        ],
        "redis": [{"targets": ["tessier:9121"], "labels": {"host": "tessier"}}],
        "postgresql": [{"targets": ["tessier:9187"], "labels": {"host": "tessier"}}],
        # the GPU exporter of each host serving vLLM: akira's profile is the role's default (rocm)
        "gpu": [
            {"targets": ["akira:5000"], "labels": {"host": "akira", "accelerator": "rocm"}},
            {"targets": ["wintermute:9400"], "labels": {"host": "wintermute", "accelerator": "cuda"}},
        ],
    }


def test_a_lone_gateway_keeps_vllm_on_loopback_out_of_reach(scrape_targets):
    """The runbook's inventory: akira alone serves its own vLLM on loopback; no vllm job, no state jobs; its GPU
    exporter is read."""
    groups = {"llm_gateways": ["akira"], "llm_monitoring_hosts": ["molly"]}
    assert scrape_targets(groups, HOSTVARS) == {
        "litellm": [{"targets": ["akira:4001"], "labels": {"host": "akira"}}],
        "node": [
            {"targets": ["akira:9100"], "labels": {"host": "akira"}},
            {"targets": ["molly:9100"], "labels": {"host": "molly"}},
        ],
        "gpu": [{"targets": ["akira:5000"], "labels": {"host": "akira", "accelerator": "rocm"}}],
    }


def test_a_cpu_host_has_no_gpu_exporter(scrape_targets, fleet):
    hostvars = {**HOSTVARS, "wintermute": {**HOSTVARS["wintermute"], "vllm_accelerator": "cpu"}}
    assert scrape_targets(GROUPS, hostvars)["gpu"] == [
        {"targets": ["akira:5000"], "labels": {"host": "akira", "accelerator": "rocm"}}
    ]
    assert fleet("wintermute", GROUPS, hostvars, "vllm_gpu_exporter_port") == 0
    assert "9400/tcp" not in fleet("wintermute", GROUPS, hostvars, "monitoring_exporter_ports")


def test_the_gpu_exporter_runs_only_where_a_monitoring_host_reads_it(fleet):
    assert fleet("akira", GROUPS, HOSTVARS, "vllm_gpu_exporter_port") == 5000
    assert fleet("wintermute", GROUPS, HOSTVARS, "vllm_gpu_exporter_port") == 9400
    groups = {name: hosts for name, hosts in GROUPS.items() if name != "llm_monitoring_hosts"}
    assert fleet("wintermute", groups, HOSTVARS, "vllm_gpu_exporter_port") == 0
    # a host without vLLM of its own runs none
    assert fleet("kaneda", GROUPS, HOSTVARS, "vllm_gpu_exporter_port") == 0


def test_a_bad_port_names_the_host_and_variable(scrape_targets):
    hostvars = {**HOSTVARS, "kaneda": {"litellm_metrics_port": "http"}}
    with pytest.raises(AnsibleFilterError, match=r"host kaneda: litellm_metrics_port is 'http': it must be a port"):
        scrape_targets(GROUPS, hostvars)
    hostvars = {**HOSTVARS, "wintermute": {"vllm_backends": [_backend("w1", port=0)]}}
    with pytest.raises(AnsibleFilterError, match=r"host wintermute: vllm_backends \(w1\)\.port is 0"):
        scrape_targets(GROUPS, hostvars)


def test_exporters_listen_on_the_tailnet_for_the_monitoring_host_only(fleet):
    assert fleet("tessier", GROUPS, HOSTVARS, "monitoring_exporter_address") == "100.64.10.6"
    assert fleet("tessier", GROUPS, HOSTVARS, "monitoring_sources") == ["100.64.10.9"]
    assert fleet("tessier", GROUPS, HOSTVARS, "monitoring_exporter_ports") == ["9100/tcp", "9121/tcp", "9187/tcp"]
    # a gateway's metrics port; vLLM's ports where it listens on the tailnet (gateways other than akira use akira's)
    assert fleet("akira", GROUPS, HOSTVARS, "monitoring_exporter_ports") == [
        "9100/tcp",
        "4001/tcp",
        "8000/tcp",
        "5000/tcp",
    ]
    assert fleet("wintermute", GROUPS, HOSTVARS, "monitoring_exporter_ports") == [
        "9100/tcp",
        "8000/tcp",
        "8001/tcp",
        "9400/tcp",
    ]
    assert fleet("kaneda", GROUPS, HOSTVARS, "monitoring_exporter_ports") == ["9100/tcp", "4101/tcp"]


def test_gateways_serve_their_metrics_when_there_is_a_monitoring_host(fleet, scrape_targets):
    assert fleet("kaneda", GROUPS, HOSTVARS, "litellm_metrics") is True
    groups = {name: hosts for name, hosts in GROUPS.items() if name != "llm_monitoring_hosts"}
    assert fleet("kaneda", groups, HOSTVARS, "litellm_metrics") is False
    # a gateway whose inventory turns them off is neither read nor opened to the monitoring host
    hostvars = {**HOSTVARS, "kaneda": {**HOSTVARS["kaneda"], "litellm_metrics": False}}
    assert scrape_targets(GROUPS, hostvars)["litellm"] == [{"targets": ["akira:4001"], "labels": {"host": "akira"}}]
    assert fleet("kaneda", GROUPS, hostvars, "monitoring_exporter_ports") == ["9100/tcp"]


def test_without_a_monitoring_host_exporters_stay_on_loopback(fleet):
    groups = {name: hosts for name, hosts in GROUPS.items() if name != "llm_monitoring_hosts"}
    # no network facts needed then
    hostvars = {host: {k: v for k, v in hv.items() if k != "ansible_facts"} for host, hv in HOSTVARS.items()}
    assert fleet("tessier", groups, hostvars, "monitoring_exporter_address") == "127.0.0.1"
    assert fleet("tessier", groups, hostvars, "monitoring_sources") == []
    assert fleet("tessier", groups, hostvars, "monitoring_exporter_ports") == []


def test_a_client_is_not_read(fleet):
    assert fleet("motoko", GROUPS, HOSTVARS, "monitoring_exporter_address") == "127.0.0.1"
    assert fleet("motoko", GROUPS, HOSTVARS, "monitoring_sources") == []


def test_a_monitoring_host_without_network_facts_is_named(fleet):
    hostvars = {**HOSTVARS, "molly": {}}
    with pytest.raises(AnsibleFilterError, match="host molly has no network facts"):
        fleet("tessier", GROUPS, hostvars, "monitoring_sources")
