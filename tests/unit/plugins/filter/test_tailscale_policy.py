import pytest
from ansible.errors import AnsibleFilterError
from ansible.plugins.loader import filter_loader

GROUPS = {"llm_gateways": ["akira"], "llm_clients": ["motoko"]}
HOSTVARS = {"akira": {}, "motoko": {}}


@pytest.fixture(scope="module")
def tailscale_policy():
    return filter_loader.get("tailnet.llm.tailscale_policy").j2_function


def test_the_part_of_the_policy_file(tailscale_policy):
    policy = tailscale_policy(GROUPS, HOSTVARS, tag_owners=["autogroup:admin"], operators=["alice@example.com"])
    assert set(policy) == {"tagOwners", "grants", "tests"}
    assert {"src": ["tag:llm-client"], "dst": ["tag:llm-gateway"], "ip": ["tcp:4000"]} in policy["grants"]


def test_bad_input_is_a_filter_error(tailscale_policy):
    with pytest.raises(AnsibleFilterError, match="tailscale_policy: tailscale_policy_operators is None"):
        tailscale_policy(GROUPS, HOSTVARS, tag_owners=["autogroup:admin"])
