"""The collection's part of the tailnet policy, derived from the groups (plugins/plugin_utils/tailscale_policy.py)."""

import pytest
import yaml
from ansible_collections.tailnet.llm.plugins.plugin_utils.tailscale_policy import (
    DEFAULT_LITELLM_PORT,
    DEFAULT_REDIS_PORT,
    POSTGRESQL_PORT,
    host_tags,
    tailscale_policy,
)
from helpers import REPO

OWNERS, OPERATORS = ["autogroup:admin"], ["group:llm-operators"]


def _backend(name, port):
    return {"name": name, "host": "127.0.0.1", "port": port, "models": [{"id": "m", "alias": f"{name}/m"}]}


# The lab's shape: akira gateway and model host, kaneda a second gateway, wintermute a model host, tessier the
# state host, motoko a client.
GROUPS = {
    "llm_gateways": ["akira", "kaneda"],
    "llm_model_hosts": ["akira", "wintermute"],
    "llm_state_hosts": ["tessier"],
    "llm_clients": ["motoko"],
    "llm_clients_linux": ["motoko"],
}
HOSTVARS = {
    "akira": {"vllm_backends": [_backend("a", 8000), _backend("b", 8001), {**_backend("r", 9000), "host": "x"}]},
    "kaneda": {},
    "wintermute": {"vllm_backends": [_backend("w", 8000)]},
    "tessier": {},
    "motoko": {},
}


def _grants(policy):
    return {(g["src"][0], tuple(g["dst"])): g["ip"] for g in policy["grants"]}


def test_one_tag_per_role_owned_by_the_tag_owners():
    policy = tailscale_policy(GROUPS, HOSTVARS, OWNERS, OPERATORS)
    assert policy["tagOwners"] == {
        "tag:llm-gateway": OWNERS,
        "tag:llm-model-host": OWNERS,
        "tag:llm-state-host": OWNERS,
        "tag:llm-client": OWNERS,
        "tag:llm-monitoring-host": OWNERS,
    }


def test_who_reaches_what():
    grants = _grants(tailscale_policy(GROUPS, HOSTVARS, OWNERS, OPERATORS))
    assert grants == {
        ("tag:llm-client", ("tag:llm-gateway",)): ["tcp:4000"],
        # Only the backends served on the model hosts themselves (not the remote one on akira's list).
        ("tag:llm-gateway", ("tag:llm-model-host",)): ["tcp:8000", "tcp:8001"],
        ("tag:llm-gateway", ("tag:llm-state-host",)): [f"tcp:{POSTGRESQL_PORT}", "tcp:6379"],
        ("group:llm-operators", ("tag:llm-gateway", "tag:llm-model-host", "tag:llm-state-host", "tag:llm-client")): [
            "tcp:22"
        ],
    }


def test_ports_come_from_the_inventory():
    hostvars = {
        **HOSTVARS,
        "akira": {**HOSTVARS["akira"], "litellm_port": 4443},
        "tessier": {"state_store_redis_port": 6380},
    }
    grants = _grants(tailscale_policy(GROUPS, hostvars, OWNERS, OPERATORS))
    assert grants[("tag:llm-client", ("tag:llm-gateway",))] == ["tcp:4000", "tcp:4443"]
    assert grants[("tag:llm-gateway", ("tag:llm-state-host",))] == ["tcp:5432", "tcp:6380"]


def test_the_runbook_inventory_has_no_model_or_state_rules():
    """akira alone serves its backends on loopback: the tailnet only carries the clients' requests and SSH."""
    groups = {"llm_gateways": ["akira"], "llm_clients": ["motoko", "count-zero"]}
    policy = tailscale_policy(groups, {"akira": HOSTVARS["akira"], "motoko": {}, "count-zero": {}}, OWNERS, OPERATORS)
    assert [g["dst"] for g in policy["grants"]] == [["tag:llm-gateway"], ["tag:llm-gateway", "tag:llm-client"]]
    assert "autoApprovers" not in policy


def test_tests_accept_what_is_granted_and_deny_the_rest():
    tests = tailscale_policy(GROUPS, HOSTVARS, OWNERS, OPERATORS)["tests"]
    client = next(t for t in tests if t["src"] == "tag:llm-client" and t["proto"] == "tcp")
    assert client["accept"] == ["tag:llm-gateway:4000"]
    assert {"tag:llm-gateway:22", "tag:llm-model-host:8000", "tag:llm-state-host:6379"} <= set(client["deny"])
    gateway = next(t for t in tests if t["src"] == "tag:llm-gateway" and t["proto"] == "tcp")
    assert set(gateway["accept"]) == {
        "tag:llm-model-host:8000",
        "tag:llm-model-host:8001",
        "tag:llm-state-host:5432",
        "tag:llm-state-host:6379",
    }
    assert {"tag:llm-model-host:22", "tag:llm-state-host:22", "tag:llm-client:4000"} <= set(gateway["deny"])
    assert {"src": "group:llm-operators", "proto": "tcp", "accept": [
        "tag:llm-gateway:22", "tag:llm-model-host:22", "tag:llm-state-host:22", "tag:llm-client:22"]} in tests  # fmt: skip


def test_no_deny_case_for_a_port_a_host_answers_through_another_of_its_tags():
    """akira is a gateway and a model host: one device with both tags, reachable by gateways on 8000."""
    tests = tailscale_policy(GROUPS, HOSTVARS, OWNERS, OPERATORS)["tests"]
    gateway = next(t for t in tests if t["src"] == "tag:llm-gateway" and t["proto"] == "tcp")
    assert "tag:llm-gateway:8000" not in gateway["deny"]
    assert "tag:llm-gateway:4000" in gateway["deny"]


def test_the_monitoring_host_reaches_the_exporters_it_reads_and_nobody_else_does():
    """The ports plugin_utils.monitoring gives each host's firewall, granted to the monitoring host's tag alone."""
    groups = {**GROUPS, "llm_monitoring_hosts": ["tessier"]}
    hostvars = {**HOSTVARS, "kaneda": {"litellm_metrics_port": 4101}}
    policy = tailscale_policy(groups, hostvars, OWNERS, OPERATORS)
    grants = _grants(policy)
    # akira: node exporter, its metrics port, the vLLM ports the other gateway uses and its GPU exporter (the default
    # profile, rocm: 5000; wintermute's too); kaneda: its own metrics port
    assert grants[("tag:llm-monitoring-host", ("tag:llm-gateway",))] == [
        "tcp:4001", "tcp:4101", "tcp:5000", "tcp:8000", "tcp:8001", "tcp:9100"]  # fmt: skip
    assert grants[("tag:llm-monitoring-host", ("tag:llm-model-host",))] == [
        "tcp:4001", "tcp:5000", "tcp:8000", "tcp:8001", "tcp:9100"]  # fmt: skip
    assert grants[("tag:llm-monitoring-host", ("tag:llm-state-host",))] == ["tcp:9100", "tcp:9121", "tcp:9187"]
    assert grants[("tag:llm-monitoring-host", ("tag:llm-monitoring-host",))] == ["tcp:9100", "tcp:9121", "tcp:9187"]
    assert not [g for g in policy["grants"] if "tag:llm-client" in g["dst"] and g["src"] != OPERATORS]
    tests = policy["tests"]
    client = next(t for t in tests if t["src"] == "tag:llm-client" and t["proto"] == "tcp")
    assert {
        "tag:llm-gateway:4001",
        "tag:llm-gateway:9100",
        "tag:llm-model-host:5000",
        "tag:llm-state-host:9121",
    } <= set(client["deny"])
    monitoring = next(t for t in tests if t["src"] == "tag:llm-monitoring-host" and t["proto"] == "tcp")
    assert {"tag:llm-gateway:4001", "tag:llm-model-host:8000", "tag:llm-state-host:9187"} <= set(monitoring["accept"])
    assert {"tag:llm-gateway:22", "tag:llm-state-host:6379"} <= set(monitoring["deny"])
    # without a monitoring host, no grant to its tag
    assert not [
        g for g in tailscale_policy(GROUPS, HOSTVARS, OWNERS, OPERATORS)["grants"] if "monitoring" in g["src"][0]
    ]


def test_autogroup_operators_get_no_test():
    tests = tailscale_policy(GROUPS, HOSTVARS, OWNERS, ["autogroup:admin", "alice@example.com"])["tests"]
    assert [t["src"] for t in tests if "tag:llm-gateway:22" in t.get("accept", [])] == ["alice@example.com"]


def test_advertised_routes_and_exit_nodes_are_auto_approved_for_the_hosts_tags():
    hostvars = {
        **HOSTVARS,
        "wintermute": {**HOSTVARS["wintermute"], "tailscale_advertise_routes": ["192.168.10.0/24"]},
        "tessier": {"tailscale_advertise_exit_node": True, "tailscale_advertise_routes": ["192.168.10.0/24"]},
    }
    approvers = tailscale_policy(GROUPS, hostvars, OWNERS, OPERATORS)["autoApprovers"]
    assert approvers == {
        "routes": {"192.168.10.0/24": ["tag:llm-model-host", "tag:llm-state-host"]},
        "exitNode": ["tag:llm-state-host"],
    }


@pytest.mark.parametrize(
    ("hostvars", "owners", "operators", "message"),
    [
        (
            {"tessier": {"tailscale_advertise_routes": ["10.0.0.300/24"]}},
            OWNERS,
            OPERATORS,
            "host tessier: tailscale_advertise_routes: '10.0.0.300/24'",
        ),
        ({"akira": {"litellm_port": "http"}}, OWNERS, OPERATORS, "host akira: litellm_port is 'http'"),
        ({}, [], OPERATORS, "tailscale_policy_tag_owners is []"),
        ({}, OWNERS, ["ops"], "tailscale_policy_operators: 'ops' is no user"),
        ({}, OWNERS, ["tag:llm-client"], "tailscale_policy_operators: 'tag:llm-client' is no user"),
    ],
)
def test_bad_input_names_the_variable(hostvars, owners, operators, message):
    merged = {host: {**HOSTVARS[host], **hostvars.get(host, {})} for host in HOSTVARS}
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        tailscale_policy(GROUPS, merged, owners, operators)


def test_host_tags_follow_the_groups():
    assert host_tags("akira", GROUPS) == ["llm-gateway", "llm-model-host"]
    assert host_tags("motoko", GROUPS) == ["llm-client"]
    assert host_tags("outsider", GROUPS) == []


def test_the_default_ports_are_the_roles_defaults():
    litellm = yaml.safe_load((REPO / "roles/litellm/defaults/main.yml").read_text())
    state = yaml.safe_load((REPO / "roles/state_store/defaults/main.yml").read_text())
    state_vars = yaml.safe_load((REPO / "roles/state_store/vars/main.yml").read_text())
    assert litellm["litellm_port"] == DEFAULT_LITELLM_PORT
    assert state["state_store_redis_port"] == DEFAULT_REDIS_PORT
    assert state_vars["__state_store_postgresql_port"] == POSTGRESQL_PORT
