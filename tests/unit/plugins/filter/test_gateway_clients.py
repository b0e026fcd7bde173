import hashlib

import pytest
from ansible.errors import AnsibleFilterError
from ansible.plugins.loader import filter_loader

GROUPS = {"llm_clients": ["motoko", "armitage", "count-zero"], "llm_gateways": ["akira"]}
HOSTVARS = {
    "motoko": {"llm_client_key": "sk-motoko"},
    "armitage": {"llm_client_key": "sk-armitage", "llm_client_models": ["default"], "llm_client_rpm": 10},
    "count-zero": {},  # no key: gets none, and no gateway lets it in
    "akira": {"llm_client_key": "sk-not-a-client"},
}


def _sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def gateway_clients():
    return filter_loader.get("tailnet.llm.gateway_clients").j2_function


@pytest.fixture(scope="module")
def client_problems():
    return filter_loader.get("tailnet.llm.client_problems").j2_function


def test_each_client_with_a_key_gets_in_by_its_hash(gateway_clients):
    assert gateway_clients(GROUPS, HOSTVARS) == [
        {"name": "motoko", "key_sha256": _sha("sk-motoko"), "models": [], "rpm_limit": None, "tpm_limit": None},
        {
            "name": "armitage",
            "key_sha256": _sha("sk-armitage"),
            "models": ["default"],
            "rpm_limit": 10,
            "tpm_limit": None,
        },
    ]


def test_a_revoked_client_is_left_out(gateway_clients):
    assert [c["name"] for c in gateway_clients(GROUPS, HOSTVARS, revoked=["motoko"])] == ["armitage"]


def test_no_clients_group_means_no_clients(gateway_clients):
    assert gateway_clients({"llm_gateways": ["akira"]}, HOSTVARS) == []


def test_well_formed_clients_have_no_problem(gateway_clients, client_problems):
    assert client_problems(gateway_clients(GROUPS, HOSTVARS), "sk-master") == []


@pytest.mark.parametrize(
    ("clients", "problem"),
    [
        (
            [{"name": "motoko", "key_sha256": _sha("sk-master")}],
            "litellm_clients[0] (motoko) holds the master key: give the client its own key",
        ),
        (
            [{"name": "motoko", "key_sha256": _sha("sk-a")}, {"name": "armitage", "key_sha256": _sha("sk-a")}],
            "litellm_clients[1] (armitage) has the same key as motoko: give each client its own key",
        ),
        (
            [{"name": "motoko", "key_sha256": "sk-a"}],
            "litellm_clients[0] has no key_sha256 (the SHA-256 of the client's key, 64 hex digits)",
        ),
    ],
)
def test_problems_name_the_entry_never_the_key(client_problems, clients, problem):
    problems = client_problems(clients, "sk-master")
    assert problems == [problem]
    assert "sk-master" not in problem


USERS_HOST = {
    "llm_client_key": "sk-motoko",
    "llm_client_models": ["default"],
    "llm_client_rpm": 10,
    "llm_client_users": [{"name": "case"}, {"name": "molly", "models": ["akira/qwen2.5-7b"], "rpm": 30}],
    "llm_client_user_keys": {"case": "sk-case", "molly": "sk-molly"},
}


def _names_and_limits(entries):
    return [(e["name"], e["key_sha256"], e["models"], e["rpm_limit"]) for e in entries]


def test_each_listed_user_gets_in_with_their_own_key_and_the_hosts_limits_unless_their_own(gateway_clients):
    assert _names_and_limits(gateway_clients({"llm_clients": ["motoko"]}, {"motoko": USERS_HOST})) == [
        ("motoko", _sha("sk-motoko"), ["default"], 10),
        ("motoko/case", _sha("sk-case"), ["default"], 10),
        ("motoko/molly", _sha("sk-molly"), ["akira/qwen2.5-7b"], 30),
    ]


def test_users_without_the_hosts_own_key(gateway_clients):
    host = {**USERS_HOST, "llm_client_key": ""}
    assert [e["name"] for e in gateway_clients({"llm_clients": ["motoko"]}, {"motoko": host})] == [
        "motoko/case",
        "motoko/molly",
    ]


@pytest.mark.parametrize(
    ("revoked", "left"),
    [
        (["motoko/molly"], ["motoko", "motoko/case"]),
        (["motoko"], []),
    ],
    ids=["one-user", "the-host-and-its-users"],
)
def test_revoking_a_user_or_the_whole_host(gateway_clients, revoked, left):
    entries = gateway_clients({"llm_clients": ["motoko"]}, {"motoko": USERS_HOST}, revoked=revoked)
    assert [e["name"] for e in entries] == left


@pytest.mark.parametrize(
    ("users", "keys", "message"),
    [
        ([{"name": "case"}], {}, "llm_client_users[0] (case) has no key in llm_client_user_keys"),
        (["case"], {"case": "sk-case"}, "llm_client_users[0] must be a dict with the user's login name as `name`"),
        ([{"name": "../etc"}], {"../etc": "sk-x"}, "llm_client_users[0] must be a dict with the user's login name"),
        (
            [{"name": "case", "rpms": 3}],
            {"case": "sk-case"},
            "llm_client_users[0] (case) has unknown keys: rpms (known: budget, models, name, rpm, tpm)",
        ),
        ([{"name": "case", "rpm": 0}], {"case": "sk-case"}, "models must be a list, rpm and tpm whole numbers above 0"),
        ([{"name": "case", "models": "default"}], {"case": "sk-case"}, "models must be a list"),
        ([{"name": "case"}, {"name": "case"}], {"case": "sk-case"}, "llm_client_users[1] (case) is listed twice"),
    ],
    ids=["no-key", "not-a-dict", "not-a-login-name", "unknown-key", "zero-rpm", "models-not-a-list", "twice"],
)
def test_a_bad_user_entry_fails_naming_host_variable_and_entry_never_a_key(gateway_clients, users, keys, message):
    host = {"llm_client_key": "sk-motoko", "llm_client_users": users, "llm_client_user_keys": keys}
    with pytest.raises(AnsibleFilterError) as failure:
        gateway_clients({"llm_clients": ["motoko"]}, {"motoko": host})
    assert str(failure.value).startswith("gateway_clients: host motoko: llm_client_users[")
    assert message in str(failure.value)
    assert "sk-" not in str(failure.value)


def test_a_user_sharing_the_hosts_key_is_a_problem(gateway_clients, client_problems):
    host = {**USERS_HOST, "llm_client_user_keys": {"case": "sk-motoko", "molly": "sk-molly"}}
    problems = client_problems(gateway_clients({"llm_clients": ["motoko"]}, {"motoko": host}), "sk-master")
    assert problems == ["litellm_clients[1] (motoko/case) has the same key as motoko: give each client its own key"]
