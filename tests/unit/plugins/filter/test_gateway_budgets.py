import pytest
from ansible.errors import AnsibleFilterError
from ansible.plugins.loader import filter_loader
from ansible_collections.tailnet.llm.plugins.plugin_utils.clients import gateway_clients

GROUPS = {"llm_clients": ["motoko", "batou", "count-zero"], "llm_gateways": ["akira"]}
HOSTVARS = {
    "motoko": {
        "llm_client_key": "sk-motoko",
        "llm_client_budget": {"max_usd": 5, "period": "30d"},
        "llm_client_users": [{"name": "alice", "budget": {"max_usd": 2.5, "period": "1mo"}}, {"name": "bob"}],
        "llm_client_user_keys": {"alice": "sk-alice", "bob": "sk-bob"},
    },
    "batou": {"llm_client_key": "sk-batou", "llm_client_budget": {"max_usd": 1}},
    "count-zero": {},  # no key and no users: no caller, no entity
}
TEAMS = [{"name": "research", "members": ["batou", "motoko/alice"], "budget": {"max_usd": 20, "period": "1mo"}}]


@pytest.fixture(scope="module")
def gateway_budgets():
    return filter_loader.get("tailnet.llm.gateway_budgets").j2_function


def _clients(revoked=()):
    return gateway_clients(GROUPS, HOSTVARS, revoked)


def test_hosts_are_users_users_are_customers_charged_to_their_host_and_teams_are_teams(gateway_budgets):
    assert gateway_budgets(_clients(), HOSTVARS, teams=TEAMS) == {
        "users": [
            {"user_id": "motoko", "max_budget": 5.0, "budget_duration": "30d"},
            {"user_id": "batou", "max_budget": 1.0, "budget_duration": None},
        ],
        "customers": [
            {"user_id": "motoko/alice", "max_budget": 2.5, "budget_duration": "1mo"},
            {"user_id": "motoko/bob", "max_budget": None, "budget_duration": None},
        ],
        "teams": [{"team_id": "research", "max_budget": 20.0, "budget_duration": "1mo"}],
        "callers": {
            "motoko": {"user_id": "motoko"},
            "motoko/alice": {"user_id": "motoko", "end_user_id": "motoko/alice", "team_id": "research"},
            "motoko/bob": {"user_id": "motoko", "end_user_id": "motoko/bob"},
            "batou": {"user_id": "batou", "team_id": "research"},
        },
    }


def test_revoked_callers_get_no_entity(gateway_budgets):
    budgets = gateway_budgets(_clients(["batou", "motoko/bob"]), HOSTVARS)
    assert [user["user_id"] for user in budgets["users"]] == ["motoko"]
    assert [customer["user_id"] for customer in budgets["customers"]] == ["motoko/alice"]
    assert sorted(budgets["callers"]) == ["motoko", "motoko/alice"]
    assert gateway_budgets(_clients(["motoko"]), HOSTVARS)["customers"] == []


@pytest.mark.parametrize("revoked", [["batou", "motoko/alice"], ["batou", "motoko"]])
def test_a_revoked_member_leaves_its_team_and_the_team_stays(gateway_budgets, revoked):
    budgets = gateway_budgets(_clients(revoked), HOSTVARS, teams=TEAMS, revoked=revoked)
    assert budgets["teams"] == [{"team_id": "research", "max_budget": 20.0, "budget_duration": "1mo"}]
    assert not any("team_id" in caller for caller in budgets["callers"].values())
    with pytest.raises(AnsibleFilterError, match="'batou', which is no caller"):
        gateway_budgets(_clients(revoked), HOSTVARS, teams=TEAMS)


def test_only_budgets_are_read_never_a_key(gateway_budgets):
    class NoKeys(dict):
        """A host's variables, as Ansible's lazy hostvars: reading a key would look it up in Key Vault."""

        def __getitem__(self, name):
            assert "key" not in name, f"{name} was read"
            return super().__getitem__(name)

        def get(self, name, default=None):
            assert "key" not in name, f"{name} was read"
            return super().get(name, default)

    hostvars = {host: NoKeys(variables) for host, variables in HOSTVARS.items()}
    assert gateway_budgets(_clients(), hostvars) == gateway_budgets(_clients(), HOSTVARS)


def _host(**variables):
    hostvars = {"motoko": {"llm_client_key": "sk-motoko", **variables}}
    return [{"name": name} for name in ("motoko", "motoko/alice")], hostvars


@pytest.mark.parametrize(
    ("variables", "teams", "expected"),
    [
        pytest.param(
            {"llm_client_budget": {"max_usd": -1}},
            [],
            "host motoko: llm_client_budget.max_usd is -1: it must be a number of US dollars, 0 or more",
            id="negative",
        ),
        pytest.param(
            {"llm_client_budget": {"max_usd": 5, "period": "monthly"}},
            [],
            "host motoko: llm_client_budget.period is 'monthly': it must be a duration as LiteLLM's budget_duration",
            id="period",
        ),
        pytest.param(
            {"llm_client_budget": {"max_usd": 5, "per": "30d"}},
            [],
            "host motoko: llm_client_budget has unknown keys: per (known: max_usd, period)",
            id="unknown-key",
        ),
        pytest.param(
            {"llm_client_budget": 5},
            [],
            "host motoko: llm_client_budget is 5: it must be a mapping with max_usd and period",
            id="not-a-mapping",
        ),
        pytest.param(
            {
                "llm_client_users": [{"name": "alice", "budget": {"max_usd": "lots"}}],
                "llm_client_user_keys": {"alice": "sk-alice"},
            },
            [],
            "host motoko: llm_client_users[0] (alice).budget.max_usd is 'lots'",
            id="user-budget",
        ),
        pytest.param(
            {},
            [{"name": "research", "members": ["motoko/nobody"]}],
            "llm_teams[0] (research).members[0] is 'motoko/nobody', which is no caller of the gateways",
            id="unknown-member",
        ),
        pytest.param(
            {},
            [{"name": "a", "members": ["motoko"]}, {"name": "b", "members": ["motoko"]}],
            "llm_teams[1] (b).members[0]: motoko is already a member of team a: a caller belongs to at most one team",
            id="two-teams",
        ),
        pytest.param(
            {},
            [{"name": "a"}, {"name": "a"}],
            "llm_teams[1] (a) is listed twice",
            id="team-twice",
        ),
        pytest.param(
            {},
            [{"name": "a", "budget": {"max_usd": 1, "period": "1y"}}],
            "llm_teams[0] (a).budget.period is '1y'",
            id="team-budget",
        ),
        pytest.param({}, [{"name": "a b"}], "llm_teams[0] must be a mapping with a `name`", id="team-name"),
        pytest.param({}, [{"name": "a", "owner": "x"}], "llm_teams[0] (a) has unknown keys: owner", id="team-key"),
    ],
)
def test_bad_input_is_named(gateway_budgets, variables, teams, expected):
    clients, hostvars = _host(**variables)
    with pytest.raises(AnsibleFilterError) as failure:
        gateway_budgets(clients, hostvars, teams=teams)
    assert expected in str(failure.value)
