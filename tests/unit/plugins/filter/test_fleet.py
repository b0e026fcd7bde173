"""tailnet.llm.fleet: each role variable the collection derives from the inventory (plugins/plugin_utils/fleet.py)."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible.plugins.loader import filter_loader


def _facts(*addresses):
    return {
        "ansible_facts": {
            "all_ipv4_addresses": [a for a in addresses if ":" not in a],
            "all_ipv6_addresses": [a for a in addresses if ":" in a],
        }
    }


HOSTVARS = {
    "akira": _facts("10.0.0.2", "100.64.10.2", "fd7a:115c:a1e0:10::2"),
    "kaneda": {**_facts("100.64.10.3", "fd7a:115c:a1e0:10::3"), "litellm_port": 4010},
    "wintermute": _facts("100.64.10.4"),
    "tessier": _facts("100.64.10.6"),
    "motoko": {},
}
FLEET = {
    "llm_gateways": ["kaneda", "akira"],
    "llm_model_hosts": ["akira", "wintermute"],
    "llm_state_hosts": ["tessier"],
    "llm_clients": ["motoko"],
}
LONE = {"llm_gateways": ["akira"], "llm_clients": ["motoko"]}


@pytest.fixture(scope="module")
def fleet():
    return filter_loader.get("tailnet.llm.fleet").j2_function


@pytest.mark.parametrize(
    ("host", "groups", "name", "expected"),
    [
        # a model host other gateways use listens on its tailnet IPv4 address and lets only them in
        ("wintermute", FLEET, "vllm_bind_address", "100.64.10.4"),
        (
            "wintermute",
            FLEET,
            "vllm_gateway_sources",
            ["100.64.10.3", "fd7a:115c:a1e0:10::3", "100.64.10.2", "fd7a:115c:a1e0:10::2"],
        ),
        ("akira", FLEET, "vllm_bind_address", "100.64.10.2"),
        ("akira", FLEET, "vllm_gateway_sources", ["100.64.10.3", "fd7a:115c:a1e0:10::3"]),
        # a lone gateway keeps vLLM on loopback, and needs no facts for it
        ("akira", LONE, "vllm_bind_address", "127.0.0.1"),
        ("akira", LONE, "vllm_gateway_sources", []),
        # the state host, and the first gateway migrating the shared database
        ("kaneda", FLEET, "litellm_redis_host", "tessier"),
        ("kaneda", FLEET, "litellm_database_host", "tessier"),
        ("akira", LONE, "litellm_redis_host", ""),
        ("kaneda", FLEET, "litellm_database_migrate", True),
        ("akira", FLEET, "litellm_database_migrate", False),
        ("akira", {}, "litellm_database_migrate", True),
        ("tessier", FLEET, "state_store_bind_address", "100.64.10.6"),
        (
            "tessier",
            FLEET,
            "state_store_sources",
            ["100.64.10.3", "fd7a:115c:a1e0:10::3", "100.64.10.2", "fd7a:115c:a1e0:10::2"],
        ),
        ("tessier", {"llm_state_hosts": ["tessier"]}, "state_store_bind_address", "127.0.0.1"),
        ("tessier", {"llm_state_hosts": ["tessier"]}, "state_store_sources", []),
        # a client talks to the first gateway, at its own port
        ("motoko", FLEET, "ask_cli_base_url", "http://kaneda:4010"),
        ("motoko", LONE, "ask_cli_base_url", "http://akira:4000"),
        ("motoko", {}, "ask_cli_base_url", ""),
    ],
)
def test_each_value_from_the_groups(fleet, host, groups, name, expected):
    assert fleet(host, groups, HOSTVARS, name) == expected


def test_missing_network_facts_name_the_host(fleet):
    with pytest.raises(AnsibleFilterError, match="fleet: host motoko has no network facts"):
        fleet("wintermute", {"llm_gateways": ["motoko"]}, HOSTVARS, "vllm_gateway_sources")


def test_an_unknown_variable_is_named(fleet):
    with pytest.raises(AnsibleFilterError, match="fleet: 'vllm_port' is not derived from the inventory"):
        fleet("akira", FLEET, HOSTVARS, "vllm_port")
