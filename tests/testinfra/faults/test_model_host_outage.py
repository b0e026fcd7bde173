"""A model host going down costs no request, and the monitoring host says so.

vLLM is stopped on a model host for this module's tests (the `outage` fixture) and started again after them (the
fixture waits until it serves again). The host is one whose names another model host serves too:

- during a bounded run of requests through every gateway for those names, started just before vLLM stops, every
  request succeeds (the gateways retry on the name's other deployments);
- ModelHostDown fires in the monitoring host's Alertmanager within ALERT_SECONDS of the stop, for a host whose vLLM the
  monitoring host reads (one that serves other gateways than its own).

The alert's bound: the rule waits 2 minutes (`for: 2m`) after Prometheus first sees vLLM down, which takes up to one
scrape interval and one rule evaluation (30 s each by default, 10 s in the lab); Prometheus then sends the alert to
Alertmanager at once. Measured in the lab: see docs/monitoring.md. Lab only (TAILNET_LLM_FAULTS=yes), as the other
fault tests.
"""

import json
import shlex
import threading
import time

import helpers
import pytest

testinfra_hosts = ["ansible://llm_model_hosts"]

REQUESTS = 24  # per gateway and name
SECONDS = 240  # for the whole run of one gateway
ALERT_SECONDS = 210  # 2 min of `for`, a scrape and an evaluation (30 s each at most), and 30 s of slack
SERVE_SECONDS = 300  # vLLM's start on these machines takes about 35 s to a few minutes under load
ALERTMANAGER = "http://127.0.0.1:9093"


def _names_served_elsewhere_too(host):
    """The aliases this host serves, when every one of them has a deployment on another host (else None)."""
    from ansible_collections.tailnet.llm.plugins.plugin_utils.backends import local_backends

    hostvars = helpers.inventory_vars(host)
    name, groups = hostvars["inventory_hostname"], hostvars["groups"]
    mine = {model["alias"] for backend in local_backends(hostvars["vllm_backends"]) for model in backend["models"]}
    others = {
        model["alias"]
        for other in groups["llm_model_hosts"]
        if other != name
        for backend in local_backends(helpers.inventory_vars(helpers.inventory_host(host, other))["vllm_backends"])
        for model in backend["models"]
    }
    return sorted(mine) if mine and mine <= others else None


def _requests(gateway, names):
    """A shell loop on GATEWAY: REQUESTS chat completions per name, one after the other, each printing its HTTP
    status; the key comes from the gateway's env file."""
    settings = helpers.gateway_settings(gateway)
    body = shlex.quote('{"model": "%s", "messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 1}')
    return (
        f"set -a; . {shlex.quote(settings['base_dir'])}/.env; set +a; end=$((SECONDS + {SECONDS})); "
        f"for i in $(seq {REQUESTS}); do for m in {' '.join(names)}; do [ $SECONDS -lt $end ] || exit 0; "
        f"curl -s -o /dev/null --max-time 60 -w '%{{http_code}}\\n' "
        f"{helpers.bearer('$LITELLM_MASTER_KEY')} -H 'Content-Type: application/json' "
        f'--data-binary "$(printf {body} "$m")" http://127.0.0.1:{settings["port"]}/v1/chat/completions; done; done'
    )


def _run(gateway, command, out):
    """Run COMMAND as root on GATEWAY and put the words it prints into OUT (in a thread: no Ansible templating
    here, which is not thread-safe)."""
    with gateway.sudo():
        out.extend(gateway.run("bash -c %s", command).stdout.split())


class Outage:
    """vLLM stopped on a model host: when it stopped, the statuses each gateway's run of requests printed, the
    monitoring host (None without one) and the ModelHostDown alerts it held for the host before the stop."""

    def __init__(self, names, gateways, monitoring):
        self.statuses = {gateway.backend.host: [] for gateway in gateways}
        self.runs = [
            threading.Thread(
                target=_run, args=(gateway, _requests(gateway, names), self.statuses[gateway.backend.host])
            )
            for gateway in gateways
        ]
        self.monitoring = monitoring
        self.firing_before = []
        self.stopped = None

    def join(self):
        for run in self.runs:
            run.join(SECONDS + 60)


@pytest.fixture(scope="module")
def outage(host):
    """vLLM stopped on HOST, a run of requests through every gateway started 5 s before; vLLM started again after the
    module's tests, which end when every vLLM server of HOST answers its health check again."""
    names = _names_served_elsewhere_too(host)
    if names is None:
        pytest.skip("another model host does not serve every name this one does: stopping it would take names away")
    monitoring = helpers.group_hosts(host, "llm_monitoring_hosts")
    outage = Outage(names, helpers.group_hosts(host, "llm_gateways"), monitoring[0] if monitoring else None)
    if outage.monitoring:
        outage.firing_before = _firing(outage.monitoring, helpers.inventory_vars(host)["inventory_hostname"])
    for run in outage.runs:
        run.start()
    try:
        time.sleep(5)  # a few requests reach every deployment first
        with host.sudo():
            host.check_output("systemctl stop vllm")
        outage.stopped = time.monotonic()
        yield outage
    finally:
        with host.sudo():
            host.check_output("systemctl start vllm")
        outage.join()
    address = helpers.url_host(helpers.vllm_address(host))
    for backend in helpers.model_host_settings(host)["local_backends"]:
        url = f"http://{address}:{backend['port']}/health"
        deadline = time.monotonic() + SERVE_SECONDS
        while host.run("curl -sf -o /dev/null --max-time 5 %s", url).rc != 0:
            assert time.monotonic() < deadline, f"{url} did not answer again"
            time.sleep(3)


def test_stopping_vllm_on_a_model_host_fails_no_request(outage):
    outage.join()
    for gateway, found in outage.statuses.items():
        assert len(found) >= REQUESTS, f"through {gateway}: only {len(found)} requests in {SECONDS} s"
        assert set(found) == {"200"}, f"through {gateway}: {found}"


def _firing(monitoring, name):
    """The ModelHostDown alerts for host NAME that Alertmanager holds, active (not silenced or inhibited)."""
    out = monitoring.check_output(
        "curl -sS --max-time 10 -G %s --data-urlencode %s --data-urlencode %s",
        f"{ALERTMANAGER}/api/v2/alerts",
        'filter=alertname="ModelHostDown"',
        f'filter=host="{name}"',
    )
    return [a for a in json.loads(out) if a["status"]["state"] == "active"]


def test_stopping_vllm_fires_model_host_down_in_alertmanager(host, outage):
    if not outage.monitoring or not helpers.model_host_settings(host)["serves_others"]:
        pytest.skip(
            "the monitoring host reads the vLLM of a model host that serves other gateways (the lab's wintermute)"
        )
    assert not outage.firing_before, "ModelHostDown fired before vLLM stopped"
    name = helpers.inventory_vars(host)["inventory_hostname"]
    while not _firing(outage.monitoring, name):
        assert time.monotonic() - outage.stopped < ALERT_SECONDS, f"no ModelHostDown for {name} in {ALERT_SECONDS} s"
        time.sleep(5)
    took = time.monotonic() - outage.stopped
    print(f"ModelHostDown for {name} fired in Alertmanager {took:.0f} s after vLLM stopped")
    (helpers.REPO / "build" / "monitoring-alert-seconds.txt").write_text(f"{took:.0f}\n")


def test_the_cooldowns_panel_shows_the_outage(host, outage):
    """The gateways leave the stopped host's deployments out (their cooldown), and the gateway dashboard's panel of
    cooldowns shows it, from the monitoring host's Prometheus."""
    if not outage.monitoring:
        pytest.skip("the inventory has no monitoring host")
    deadline = outage.stopped + ALERT_SECONDS
    while not (found := helpers.prometheus_api(outage.monitoring, "query", query=helpers.COOLDOWNS_PANEL)["result"]):
        assert time.monotonic() < deadline, f"the cooldowns panel has no data {ALERT_SECONDS} s after vLLM stopped"
        time.sleep(5)
    assert {series["metric"]["host"] for series in found} & {g for g in outage.statuses}, found
