import hashlib

import pytest
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
