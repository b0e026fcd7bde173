"""The policy the collection derives, evaluated as Tailscale evaluates it (tests/servers/tailscale_api.py's subset):
who reaches what over the tailnet, port by port, for the lab's inventory and the runbook's."""

import pytest
from ansible_collections.tailnet.llm.plugins.plugin_utils.tailscale_policy import tailscale_policy
from helpers import lab_inventory, runbook_inventory
from tailscale_api import Policy, PolicyError

OPERATORS = ["alice@example.com", "autogroup:admin"]
ALL_PORTS = range(1, 65536)
TAGS = ["tag:llm-gateway", "tag:llm-model-host", "tag:llm-state-host", "tag:llm-client", "tag:llm-monitoring-host"]


@pytest.fixture(scope="module")
def lab():
    groups, hostvars = lab_inventory()
    return Policy(tailscale_policy(groups, hostvars, ["autogroup:admin"], OPERATORS))


def reachable(policy, src, proto="tcp"):
    """{(tag, port)} that SRC reaches, every port of every tag."""
    return {
        (tag, port) for tag in TAGS for port in ALL_PORTS if policy.evaluate(src, f"{tag}:{port}", proto) == "Accept"
    }


def test_the_lab_inventory_is_what_the_test_expects():
    groups, _hostvars = lab_inventory()
    assert groups["llm_gateways"] == ["akira", "kaneda"]
    assert groups["llm_model_hosts"] == ["akira", "wintermute"]
    assert groups["llm_state_hosts"] == ["tessier"]
    assert groups["llm_clients"] == ["motoko", "armitage"]
    assert groups["llm_monitoring_hosts"] == ["tessier"]


def test_the_policy_passes_its_own_tests(lab):
    lab.check()


def test_a_client_reaches_the_gateway_port_and_nothing_else(lab):
    assert reachable(lab, "tag:llm-client") == {("tag:llm-gateway", 4000)}
    assert reachable(lab, "tag:llm-client", "udp") == set()


def test_a_gateway_reaches_the_model_hosts_vllm_ports_and_the_state_hosts_ports_and_nothing_else(lab):
    assert reachable(lab, "tag:llm-gateway") == {
        ("tag:llm-model-host", 8000),  # akira-local, wintermute-local
        ("tag:llm-model-host", 8001),  # akira-second
        ("tag:llm-state-host", 6379),  # Redis
        ("tag:llm-state-host", 5432),  # PostgreSQL
    }
    assert reachable(lab, "tag:llm-gateway", "udp") == set()


def test_the_monitoring_host_reaches_the_exporter_ports_and_nothing_else(lab):
    """tessier, also the state host, reads node exporter everywhere, the gateways' metrics port, vLLM where the
    gateways reach it, and its own Redis and PostgreSQL exporters (one device: both tags)."""
    on_gateways_and_model_hosts = {9100, 4001, 8000, 8001}  # akira is both; kaneda, wintermute one each
    assert reachable(lab, "tag:llm-monitoring-host") == {
        *((tag, port) for tag in ("tag:llm-gateway", "tag:llm-model-host") for port in on_gateways_and_model_hosts),
        *((tag, port) for tag in ("tag:llm-state-host", "tag:llm-monitoring-host") for port in (9100, 9121, 9187)),
    }
    assert reachable(lab, "tag:llm-monitoring-host", "udp") == set()


def test_model_and_state_hosts_reach_nothing(lab):
    for src in ("tag:llm-model-host", "tag:llm-state-host"):
        assert reachable(lab, src) == set()


def test_an_operator_reaches_ssh_on_every_host_and_nothing_else(lab):
    assert reachable(lab, "alice@example.com") == {(tag, 22) for tag in TAGS}


def test_someone_else_reaches_nothing(lab):
    assert reachable(lab, "mallory@example.com") == set()


def test_the_runbook_inventory():
    groups, hostvars = runbook_inventory()
    policy = Policy(tailscale_policy(groups, hostvars, ["autogroup:admin"], OPERATORS))
    policy.check()
    # akira's vLLM stays on loopback: only LiteLLM's port is on the tailnet.
    assert reachable(policy, "tag:llm-client") == {("tag:llm-gateway", 4000)}
    assert reachable(policy, "tag:llm-gateway") == set()


def test_an_allow_all_rule_breaks_the_policys_tests(lab):
    """The tests can fail: with the operator's allow-all rule, Tailscale refuses the file and says why."""
    document = {**lab.doc, "grants": [*lab.doc["grants"], {"src": ["*"], "dst": ["*"], "ip": ["*"]}]}
    with pytest.raises(PolicyError) as refused:
        Policy(document).check()
    assert str(refused.value) == "test(s) failed"
    errors = {entry["user"]: entry["errors"] for entry in refused.value.data}
    assert 'address "tag:llm-gateway:22": want: Drop, got: Accept' in errors["tag:llm-client"]


def test_a_missing_grant_breaks_the_policys_tests(lab):
    document = {**lab.doc, "grants": [g for g in lab.doc["grants"] if g["src"] != ["tag:llm-client"]]}
    with pytest.raises(PolicyError) as refused:
        Policy(document).check()
    errors = {entry["user"]: entry["errors"] for entry in refused.value.data}
    assert errors == {"tag:llm-client": ['address "tag:llm-gateway:4000": want: Accept, got: Drop']}
