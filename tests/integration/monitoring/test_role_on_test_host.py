"""The monitoring role on a throw-away systemd test host (the lab's host image), for real: Debian's packages
installed, Prometheus reading the host's node exporter with the collection's rules loaded, Alertmanager answering,
check mode passing on the new host and a second run changing nothing. The host is its own only target (no tailnet
here: exporters on loopback). It runs the real tailscaled (build/tailscale, `make monitoring-tools`), logged out as
no control server exists here, so that tailscaled's own metrics go through node exporter's textfile collector as on
a tailnet host."""

import json
import subprocess
import time
import urllib.parse

import pytest
from helpers import REPO, ansible_env, podman_exec, run_on_test_host, systemd_host

HOST = "molly"
PLAY = REPO / "tests" / "integration" / "monitoring" / "monitoring_host.yml"
HOSTVARS = {
    "monitoring_exporter_address": "127.0.0.1",
    "monitoring_sources": [],
    "monitoring_scrape_interval": "5s",
    "monitoring_scrape_targets": {"node": [{"targets": ["127.0.0.1:9100"], "labels": {"host": HOST}}]},
}


TAILSCALE = REPO / "build" / "tailscale"
# tailscaled as a distribution's package runs it, but in userspace networking with its state in memory: the test host
# has no tun device, and no control server exists here to log in to.
TAILSCALED_UNIT = """[Unit]
Description=Tailscale node agent
[Service]
ExecStart=/usr/local/bin/tailscaled --tun=userspace-networking --state=mem: --statedir=/var/lib/tailscale
[Install]
WantedBy=multi-user.target
"""
# From the role's run to tailscaled's metrics in Prometheus: the timer's first run at its start, then a scrape (5 s).
TAILSCALE_SECONDS = 90


def _start_tailscaled(container):
    if not (TAILSCALE / ".extracted").exists():
        pytest.fail(f"{TAILSCALE} has no tailscale binaries: run `make monitoring-tools`")
    for program in ("tailscale", "tailscaled"):
        subprocess.run(
            ["podman", "cp", str(TAILSCALE / program), f"{container}:/usr/local/bin/"], check=True, capture_output=True
        )
    podman_exec(container, "sh", "-c", f"cat > /etc/systemd/system/tailscaled.service <<'EOF'\n{TAILSCALED_UNIT}EOF")
    podman_exec(container, "systemctl", "daemon-reload")
    podman_exec(container, "systemctl", "start", "tailscaled")
    deadline = time.monotonic() + 30
    while "Logged out" not in podman_exec(container, "tailscale", "status", check=False).stdout:
        assert time.monotonic() < deadline, "tailscaled does not answer on its LocalAPI socket"
        time.sleep(1)


def _get(container, url):
    code = f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=5).read().decode())"
    return json.loads(podman_exec(container, "python3", "-c", code).stdout)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    with systemd_host("monitoring") as container:
        _start_tailscaled(container)
        # The host image carries no Prometheus packages yet, nor apt's lists (it drops them): fetch the lists.
        podman_exec(container, "apt-get", "update", "-qq")
        tmp_path = tmp_path_factory.mktemp("monitoring")
        # check mode on the new host first, then two real runs
        runs = [
            run_on_test_host(
                PLAY,
                HOST,
                container,
                HOSTVARS,
                tmp_path,
                *options,
                env=ansible_env(),
                timeout=900,
                group="llm_monitoring_hosts",
            )
            for options in (["--check"], [], [])
        ]
        yield container, runs


def test_check_mode_on_a_new_host_passes(deployed):
    _container, runs = deployed
    check_rc, check_output, _ = runs[0]
    assert check_rc == 0, check_output[-6000:]


def test_the_role_runs_and_a_second_run_changes_nothing(deployed):
    _container, runs = deployed
    (first_rc, first_output, _), (second_rc, second_output, second_recap) = runs[1:]
    assert first_rc == 0, first_output[-6000:]
    assert second_rc == 0, second_output[-6000:]
    assert second_recap["changed"] == 0, second_output[-6000:]


def test_prometheus_reads_node_exporter_with_the_collections_rules(deployed):
    container, _runs = deployed
    deadline, targets = time.monotonic() + 60, []
    while time.monotonic() < deadline:
        targets = _get(container, "http://127.0.0.1:9090/api/v1/targets")["data"]["activeTargets"]
        node = [t for t in targets if t["labels"]["job"] == "node"]
        if node and node[0]["health"] == "up":
            break
        time.sleep(2)
    assert {t["labels"]["job"]: t["health"] for t in targets}["node"] == "up", targets
    rules = _get(container, "http://127.0.0.1:9090/api/v1/rules")["data"]["groups"]
    assert sum(len(group["rules"]) for group in rules) == 17
    # the host's own label: what the package's default configuration scraped before the role's lingers a while
    query = urllib.parse.quote(f'node_systemd_unit_state{{host="{HOST}", name="prometheus.service", state="active"}}')
    units = _get(container, f"http://127.0.0.1:9090/api/v1/query?query={query}")
    assert [r["value"][1] for r in units["data"]["result"]] == ["1"], units


def test_alertmanager_answers(deployed):
    container, _runs = deployed
    assert _get(container, "http://127.0.0.1:9093/api/v2/status")["cluster"]["status"] == "disabled"


def _query(container, expr):
    query = urllib.parse.quote(expr)
    return _get(container, f"http://127.0.0.1:9090/api/v1/query?query={query}")["data"]["result"]


def test_tailscaleds_metrics_reach_prometheus_through_node_exporter(deployed):
    """The role found tailscale and its timer writes tailscaled's metrics for node exporter's textfile collector:
    Prometheus reads them with the host's label, as the alerts on health warnings and unapproved routes need."""
    container, _runs = deployed
    deadline = time.monotonic() + TAILSCALE_SECONDS
    while not (found := _query(container, "tailscaled_advertised_routes")):
        assert time.monotonic() < deadline, f"no tailscaled metrics in Prometheus after {TAILSCALE_SECONDS} s"
        time.sleep(3)
    assert [series["metric"]["host"] for series in found] == [HOST]
    assert _query(container, "tailscaled_approved_routes"), "tailscaled_approved_routes is missing"
    assert _query(container, 'tailscaled_health_messages{type="warning"}'), "tailscaled_health_messages is missing"
    # no route is advertised here: the alert on routes waiting for approval has nothing to say
    assert _query(container, "tailscaled_advertised_routes > tailscaled_approved_routes") == []
