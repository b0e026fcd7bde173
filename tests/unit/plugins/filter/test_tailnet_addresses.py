import pytest
from ansible.errors import AnsibleFilterError
from ansible.plugins.loader import filter_loader

HOSTVARS = {
    "akira": {
        "ansible_facts": {
            "all_ipv4_addresses": ["100.64.10.2", "198.18.10.2", "127.0.0.1"],
            "all_ipv6_addresses": ["fd7a:115c:a1e0:10::2", "fd00:198:18:10::2", "fe80::1%eth0"],
        }
    },
    "kuze": {"ansible_facts": {"all_ipv4_addresses": ["100.100.1.1"], "all_ipv6_addresses": []}},
    "nofacts": {},
}


@pytest.fixture(scope="module")
def tailnet_addresses():
    return filter_loader.get("tailnet.llm.tailnet_addresses").j2_function


def test_only_tailnet_addresses(tailnet_addresses):
    assert tailnet_addresses(["akira", "kuze"], HOSTVARS) == ["100.64.10.2", "fd7a:115c:a1e0:10::2", "100.100.1.1"]


@pytest.mark.parametrize(("family", "expected"), [(4, ["100.64.10.2"]), (6, ["fd7a:115c:a1e0:10::2"])])
def test_one_family(tailnet_addresses, family, expected):
    assert tailnet_addresses(["akira"], HOSTVARS, family=family) == expected


def test_other_ranges(tailnet_addresses):
    assert tailnet_addresses(["akira"], HOSTVARS, ranges=["198.18.0.0/15"]) == ["198.18.10.2"]


def test_no_facts_names_the_host(tailnet_addresses):
    with pytest.raises(AnsibleFilterError, match="host nofacts has no network facts"):
        tailnet_addresses(["nofacts"], HOSTVARS)


def test_the_tailnet_ranges_are_the_firewall_roles_default():
    """The filter's ranges and firewalld_sources' default are both Tailscale's ranges."""
    import yaml
    from ansible_collections.tailnet.llm.plugins.plugin_utils.firewall import TAILNET_RANGES
    from helpers import REPO

    defaults = yaml.safe_load((REPO / "roles/firewalld/defaults/main.yml").read_text())
    assert list(TAILNET_RANGES) == defaults["firewalld_sources"]
