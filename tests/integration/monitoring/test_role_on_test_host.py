"""The monitoring role on a throw-away systemd test host (the lab's host image), for real: Debian's packages
installed, Prometheus reading the host's node exporter with the collection's rules loaded, Alertmanager answering,
check mode passing on the new host and a second run changing nothing. The host is its own only target (no tailnet here: exporters on loopback)."""

import json
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


def _get(container, url):
    code = f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=5).read().decode())"
    return json.loads(podman_exec(container, "python3", "-c", code).stdout)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    with systemd_host("monitoring") as container:
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
