"""A model host whose vLLM stops raises its alert: ModelHostDown fires in the monitoring host's Alertmanager within
ALERT_SECONDS, and vLLM is started again afterwards (the test waits until it serves again).

The bound: the rule waits 2 minutes (`for: 2m`) after Prometheus first sees vLLM down, which takes up to one scrape
interval and one rule evaluation (30 s each by default, 10 s in the lab); Prometheus then sends the alert to
Alertmanager at once. Measured in the lab: see docs/monitoring.md. Lab only (TAILNET_LLM_FAULTS=yes), as the other fault tests.
"""

import json
import os
import time

import helpers
import pytest

if os.environ.get("TAILNET_LLM_FAULTS") != "yes":
    raise pytest.UsageError("tests/testinfra/faults stop services: set TAILNET_LLM_FAULTS=yes to run them (lab only)")

testinfra_hosts = ["ansible://llm_model_hosts"]

ALERT_SECONDS = 210  # 2 min of `for`, a scrape and an evaluation (30 s each at most), and 30 s of slack
SERVE_SECONDS = 300  # vLLM's start on these machines takes about 35 s to a few minutes under load
ALERTMANAGER = "http://127.0.0.1:9093"


def _firing(monitoring, name):
    """The ModelHostDown alerts for host NAME that Alertmanager holds, active (not silenced or inhibited)."""
    out = monitoring.check_output(
        "curl -sS --max-time 10 -G %s --data-urlencode %s --data-urlencode %s",
        f"{ALERTMANAGER}/api/v2/alerts",
        'filter=alertname="ModelHostDown"',
        f'filter=host="{name}"',
    )
    return [a for a in json.loads(out) if a["status"]["state"] == "active"]


def test_stopping_vllm_fires_model_host_down_in_alertmanager(host):
    settings = helpers.model_host_settings(host)
    if settings["is_gateway"] or not settings["serves_others"]:
        pytest.skip("a model host that is no gateway, whose vLLM the monitoring host reads (the lab's wintermute)")
    monitoring = helpers.group_hosts(host, "llm_monitoring_hosts")[0]
    name = helpers.inventory_vars(host)["inventory_hostname"]
    assert not _firing(monitoring, name), "ModelHostDown fires before vLLM stopped"
    start = time.monotonic()
    try:
        with host.sudo():
            host.check_output("systemctl stop vllm")
        while not _firing(monitoring, name):
            assert time.monotonic() - start < ALERT_SECONDS, f"no ModelHostDown for {name} in {ALERT_SECONDS} s"
            time.sleep(5)
        took = time.monotonic() - start
        print(f"ModelHostDown for {name} fired in Alertmanager {took:.0f} s after vLLM stopped")
        (helpers.REPO / "build" / "monitoring-alert-seconds.txt").write_text(f"{took:.0f}\n")
    finally:
        with host.sudo():
            host.check_output("systemctl start vllm")
    # serving again: every vLLM server of this host answers its health check
    address = helpers.url_host(helpers.vllm_address(host))
    for backend in settings["local_backends"]:
        url = f"http://{address}:{backend['port']}/health"
        deadline = time.monotonic() + SERVE_SECONDS
        while host.run("curl -sf -o /dev/null --max-time 5 %s", url).rc != 0:
            assert time.monotonic() < deadline, f"{url} did not answer again"
            time.sleep(3)
