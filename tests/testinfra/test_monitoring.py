"""The monitoring host: Prometheus reads every target the inventory gives, only it reaches the exporters, and every
dashboard panel's query answers with data after a bounded load.

Prometheus's API is asked on the monitoring host itself (it listens on loopback). The targets, the exporter ports
and the gateways' metrics ports come from the inventory through plugins/plugin_utils/monitoring.py, as the roles
and the firewall get them. Each port is tried from the monitoring host (it must answer: the refusal seen from a
client is then the firewall's, not a port that is down) and from every client (it must not).
"""

import shlex
import time

import helpers

testinfra_hosts = ["ansible://llm_monitoring_hosts"]

UP_SECONDS = 120  # every target up: its first scrapes after the deploy (scrape interval 30 s at most)
DATA_SECONDS = 240  # every panel's query: rate() over 5 minutes needs two scrapes after the load's first samples
LOAD = 10  # requests through a gateway to a vLLM model
# LiteLLM counts a cooldown only when a name has another deployment to send the request to (it does not cool down
# a name's only deployment, and the lab's failing models have one each): the bounded load cannot cause one. The
# outage of a model host does, and faults/test_model_host_outage.py checks this panel then.
COOLDOWNS = helpers.COOLDOWNS_PANEL
FALLING_BACK = "gpt-4o"  # the lab's model whose provider is unreachable and that falls back (lab/gateways.yml)


def _inventory(host):
    """(groups, {name: its variables}) of the whole inventory."""
    groups = helpers.inventory_vars(host)["groups"]
    names = dict.fromkeys(n for hosts in groups.values() for n in hosts)
    return groups, {name: helpers.inventory_vars(helpers.inventory_host(host, name)) for name in names}


def _expected_targets(host):
    from ansible_collections.tailnet.llm.plugins.plugin_utils.monitoring import scrape_targets

    groups, hostvars = _inventory(host)
    expected = {(job, c["targets"][0]) for job, configs in scrape_targets(groups, hostvars).items() for c in configs}
    return expected | {("prometheus", "127.0.0.1:9090"), ("alertmanager", "127.0.0.1:9093")}


def test_every_scrape_target_is_up(host):
    expected = _expected_targets(host)
    deadline = time.monotonic() + UP_SECONDS
    while True:
        active = helpers.prometheus_api(host, "targets", state="active")["activeTargets"]
        seen = {(t["labels"]["job"], t["labels"]["instance"]): t for t in active}
        down = {key: seen[key]["lastError"] for key in expected & set(seen) if seen[key]["health"] != "up"}
        if (set(seen) == expected and not down) or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert set(seen) == expected
    assert not down, down


def _exporter_ports(host):
    """(monitored host, port) for every exporter port the inventory gives any host of the service."""
    from ansible_collections.tailnet.llm.plugins.plugin_utils.monitoring import exporter_ports, monitored_hosts

    groups, hostvars = _inventory(host)
    ports = [(h, int(p.split("/")[0])) for h in monitored_hosts(groups) for p in exporter_ports(h, groups, hostvars)]
    assert ports
    return ports


def test_only_the_monitoring_host_reaches_the_exporters(host):
    ports = _exporter_ports(host)
    unreachable = sorted(set(ports) - helpers.tcp_reached(host, ports))
    assert not unreachable, f"the monitoring host does not reach {unreachable}"
    for client in helpers.group_hosts(host, "llm_clients_linux"):
        reached = sorted(helpers.tcp_reached(client, ports))
        assert not reached, f"client {client.backend.host} reaches {reached}"


def test_a_client_cannot_read_the_gateways_metrics_on_their_port(host):
    """The gateway's own port answers the clients, and its /metrics refuses their keys (LiteLLM asks for a key)."""
    for client in helpers.group_hosts(host, "llm_clients_linux"):
        for gateway in helpers.group_hosts(host, "llm_gateways"):
            name = helpers.inventory_vars(gateway)["inventory_hostname"]
            url = f"http://{name}:{helpers.gateway_settings(gateway)['port']}/metrics/"
            command = (
                f"curl -s -o /dev/null --max-time 20 -w '%{{http_code}}' "
                f"{helpers.bearer(f'$(cat {helpers.CLIENT_KEY_FILE})')} {shlex.quote(url)}"
            )
            with client.sudo():
                status = client.run("bash -c %s", command).stdout
            assert status == "401", f"{client.backend.host} -> {url}: HTTP {status}"


def test_the_monitoring_hosts_ssh_answers_a_client(host):
    name = helpers.inventory_vars(host)["inventory_hostname"]
    for client in helpers.group_hosts(host, "llm_clients_linux"):
        banner = client.run("timeout 5 bash -c %s _ %s", "exec 3<>/dev/tcp/$1/22 && head -c 7 <&3", name).stdout
        assert banner.startswith("SSH-2.0"), client.backend.host


def _load(host):
    """A bounded load through the first gateway, from the first client whose own key may call every model: LOAD
    answers of a vLLM model
    (8 tokens each, so that vLLM measures inter-token latency; every other one streamed, as LiteLLM measures the
    time to first token of streamed requests only), a model whose provider is down and that falls back (a
    fallback), and one that is down with no fallback of its own (errors); then the first once more, with a
    request-level fallback to the second (a failed fallback: LiteLLM skips a fallback to the name that failed).
    Returns the HTTP statuses by model."""
    client = next(
        client
        for client in helpers.group_hosts(host, "llm_clients_linux")
        if any(not c["user"] and not c["models"] and not c["budget"] for c in helpers.client_callers(client))
    )
    gateway = helpers.group_hosts(host, "llm_gateways")[0]
    model = helpers.inventory_vars(gateway)["litellm_default_model"]
    dead = helpers.dead_models(gateway)
    assert dead, "the lab has a model that is down with no fallback (litellm_extra_models)"
    statuses = {model: [], FALLING_BACK: [], dead[0]: []}

    def chat(name, **extra):
        body = {"model": name, "messages": [{"role": "user", "content": "Count to five."}], "max_tokens": 8, **extra}
        statuses[name].append(str(helpers.client_chat(client, gateway, body, timeout=60)[0]))

    for index in range(LOAD):
        chat(model, stream=index % 2 == 1)
    chat(FALLING_BACK)
    for _ in range(12):
        chat(dead[0])
    chat(FALLING_BACK, fallbacks=dead[:1])
    return statuses


def test_every_dashboard_panel_has_data_after_a_bounded_load(host):
    statuses = _load(host)
    model, falling_back, dead = statuses
    # every answer as the load means it: the fallback's, the dead model's errors and the failed fallback's
    assert statuses == {
        model: ["200"] * LOAD,
        falling_back: ["200", "500"],
        dead: ["500"] * len(statuses[dead]),
    }, statuses
    queries = helpers.dashboard_queries()
    deadline = time.monotonic() + DATA_SECONDS
    while True:
        empty = [
            (d, title, expr)
            for d, title, expr in queries
            if not helpers.prometheus_api(host, "query", query=expr)["result"]
        ]
        if {expr for _d, _title, expr in empty} <= {COOLDOWNS} or time.monotonic() > deadline:
            break
        time.sleep(5)
    missing = [panel for panel in empty if panel[2] != COOLDOWNS]
    assert not missing, f"panels without data ({len(missing)} of {len(queries)}): {missing}"
    # the exception is a panel of the dashboards, not a stale name
    assert COOLDOWNS in {expr for _d, _title, expr in queries}
