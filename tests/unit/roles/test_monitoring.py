"""The monitoring role's files and input checks, rendered by its own templates and tasks as Ansible does."""

import helpers
import yaml
from ansible_collections.tailnet.llm.plugins.plugin_utils import monitoring

TARGETS = {
    "litellm": [{"targets": ["akira:4001"], "labels": {"host": "akira"}}],
    "vllm": [{"targets": ["wintermute:8000"], "labels": {"host": "wintermute", "backend": "w1"}}],
    "node": [{"targets": ["akira:9100"], "labels": {"host": "akira"}}],
}
DEBIAN = yaml.safe_load((helpers.REPO / "roles/monitoring/vars/Debian.yml").read_text())


def _vars(**extra):
    return {**DEBIAN, "monitoring_scrape_targets": TARGETS, **extra}


def test_prometheus_reads_the_inventory_targets_and_no_key(tmp_path):
    files = helpers.render(
        "monitoring",
        {
            "config": ("prometheus.yml.j2", _vars(monitoring_scrape_interval="15s")),
            "args": ("prometheus.args.j2", _vars(monitoring_retention_time="30d")),
        },
        tmp_path,
    )
    config = yaml.safe_load(files["config"])
    assert config["global"] == {"scrape_interval": "15s", "evaluation_interval": "15s"}
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert list(jobs) == ["prometheus", "alertmanager", "litellm", "vllm", "node"]
    for name, static_configs in TARGETS.items():
        assert jobs[name]["static_configs"] == static_configs
    # the gateways' metrics port answers /metrics/ without a key (its /metrics is a redirect)
    assert jobs["litellm"]["metrics_path"] == "/metrics/"
    assert all("metrics_path" not in jobs[name] for name in ("vllm", "node"))
    assert all("authorization" not in job for job in jobs.values())
    assert config["rule_files"] == ["/etc/prometheus/rules/tailnet-llm.rules.yml"]
    assert "--storage.tsdb.retention.time=30d" in files["args"]
    assert "--web.listen-address=127.0.0.1:9090" in files["args"]


def test_alertmanager_logs_only_by_default_and_sends_every_alert_to_each_receiver(tmp_path):
    receivers = [{"name": "ops", "webhook_configs": [{"url": "http://127.0.0.1:5001/"}]}, {"name": "pager"}]
    files = helpers.render(
        "monitoring",
        {
            "default": ("alertmanager.yml.j2", _vars()),
            "receivers": ("alertmanager.yml.j2", _vars(monitoring_alertmanager_receivers=receivers)),
            "args": ("alertmanager.args.j2", _vars()),
        },
        tmp_path,
    )
    default = yaml.safe_load(files["default"])
    assert default["receivers"] == [{"name": "log"}]
    assert default["route"]["receiver"] == "log"
    assert "routes" not in default["route"]
    configured = yaml.safe_load(files["receivers"])
    assert configured["receivers"] == [{"name": "log"}, *receivers]
    assert configured["route"]["routes"] == [
        {"receiver": "ops", "continue": True},
        {"receiver": "pager", "continue": True},
    ]
    # a single Alertmanager: no cluster port open on every interface
    assert files["args"].rstrip().endswith('--cluster.listen-address="')


def test_exporters_listen_where_the_monitoring_host_reads_them(tmp_path):
    state = {"state_store_secrets": {"REDIS_PASSWORD": "redis-pw"}, "state_store_redis_port": 6380}
    files = helpers.render(
        "monitoring",
        {
            "node": ("node-exporter.args.j2", _vars(monitoring_exporter_address="100.64.10.6")),
            "redis": ("redis-exporter.args.j2", _vars(monitoring_exporter_address="100.64.10.6", **state)),
            "postgres": ("postgres-exporter.args.j2", _vars(monitoring_exporter_address="100.64.10.6")),
            "service": ("tailscale-metrics.service.j2", _vars()),
            "timer": ("tailscale-metrics.timer.j2", _vars(monitoring_tailscale_interval="2min")),
        },
        tmp_path,
    )
    assert "--web.listen-address=100.64.10.6:9100 --collector.systemd" in files["node"]
    assert "--collector.textfile.directory=/var/lib/prometheus/node-exporter" in files["node"]
    assert "--redis.addr=redis://127.0.0.1:6380 --web.listen-address=100.64.10.6:9121" in files["redis"]
    assert 'REDIS_PASSWORD="redis-pw"' in files["redis"]
    assert "user=prometheus host=/run/postgresql" in files["postgres"]
    assert "--web.listen-address=100.64.10.6:9187" in files["postgres"]
    assert "tailscale metrics print > /var/lib/prometheus/node-exporter/tailscaled.prom.tmp" in files["service"]
    assert "OnUnitActiveSec=2min" in files["timer"]


def test_grafana_reads_the_monitoring_hosts_prometheus_and_the_collections_dashboards(tmp_path):
    files = helpers.render(
        "monitoring",
        {"source": ("grafana-datasource.yml.j2", _vars()), "dashboards": ("grafana-dashboards.yml.j2", _vars())},
        tmp_path,
    )
    source = yaml.safe_load(files["source"])["datasources"][0]
    assert (source["url"], source["uid"]) == ("http://127.0.0.1:9090", "tailnet-llm-prometheus")
    provider = yaml.safe_load(files["dashboards"])["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/tailnet-llm"


def test_bad_input_fails_before_any_change(tmp_path):
    checked = helpers.failures(
        "monitoring",
        "validate.yml",
        {
            "receiver-without-name": _vars(monitoring_alertmanager_receivers=[{"webhook_configs": []}]),
            "receiver-log": _vars(monitoring_alertmanager_receivers=[{"name": "ops"}, {"name": "log"}]),
            "receiver-twice": _vars(monitoring_alertmanager_receivers=[{"name": "ops"}, {"name": "ops"}]),
            "good": _vars(monitoring_alertmanager_receivers=[{"name": "ops"}]),
        },
        tmp_path,
    )
    assert checked["receiver-without-name"].startswith(
        "host localhost: monitoring_alertmanager_receivers[0] must be a mapping with a name other than `log`"
    )
    assert checked["receiver-log"].startswith("host localhost: monitoring_alertmanager_receivers[1] must be")
    assert checked["receiver-twice"].startswith("host localhost: monitoring_alertmanager_receivers[0] must be")
    assert checked["good"] is None


def test_the_roles_ports_are_the_ones_prometheus_is_pointed_at():
    role_vars = yaml.safe_load((helpers.REPO / "roles/monitoring/vars/main.yml").read_text())
    assert role_vars["__monitoring_node_exporter_port"] == monitoring.NODE_EXPORTER_PORT
    assert role_vars["__monitoring_redis_exporter_port"] == monitoring.REDIS_EXPORTER_PORT
    assert role_vars["__monitoring_postgres_exporter_port"] == monitoring.POSTGRES_EXPORTER_PORT
    litellm_defaults = yaml.safe_load((helpers.REPO / "roles/litellm/defaults/main.yml").read_text())
    assert litellm_defaults["litellm_metrics_port"] == monitoring.GATEWAY_METRICS_PORT
    # the GPU exporters: a profile the vllm role runs one for, and its default profile
    vllm_defaults = yaml.safe_load((helpers.REPO / "roles/vllm/defaults/main.yml").read_text())
    vllm_vars = yaml.safe_load((helpers.REPO / "roles/vllm/vars/main.yml").read_text())
    assert vllm_defaults["vllm_accelerator"] == monitoring.DEFAULT_ACCELERATOR
    assert set(vllm_vars["__vllm_gpu_exporter_images"]) == set(monitoring.GPU_EXPORTER_PORTS)
