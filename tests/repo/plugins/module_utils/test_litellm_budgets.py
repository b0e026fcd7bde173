"""The sync's plan (what to write from what LiteLLM lists and what the inventory wants) and its HTTP client against
a loopback HTTP server; the sync against the real LiteLLM is tests/integration/database/test_budgets.py."""

import json

import loopback
import pytest
from ansible_collections.tailnet.llm.plugins.module_utils.litellm_budgets import (
    BudgetsError,
    Gateway,
    diff,
    plan,
    read,
    sync,
)

NONE = {"max_budget": None, "budget_duration": None}


def _want(name, amount=None, period=None, id_field="user_id"):
    return {id_field: name, "max_budget": amount, "budget_duration": period}


def test_plan_creates_updates_and_deletes_only_what_differs_and_is_the_collections():
    current = {
        "users": {
            "motoko": (True, {"max_budget": 5.0, "budget_duration": "30d"}),
            "batou": (True, NONE),
            "gone": (True, NONE),
            "operator-own": (False, NONE),
        },
        "customers": {"motoko/alice": (True, {"max_budget": 3.0, "budget_duration": "1mo"})},
        "teams": {},
    }
    desired = {
        "users": [_want("motoko", 5.0, "30d"), _want("batou", 1.0), _want("new")],
        "customers": [_want("motoko/alice", 3.0, "1mo")],
        "teams": [_want("research", 20.0, "1mo", "team_id")],
    }
    actions = plan(current, desired)
    assert actions == {
        "users": {"create": [_want("new")], "update": [_want("batou", 1.0)], "delete": ["gone"]},
        "customers": {"create": [], "update": [], "delete": []},
        "teams": {"create": [_want("research", 20.0, "1mo", "team_id")], "update": [], "delete": []},
    }
    assert diff(current, actions) == {
        "before": {"users": {"batou": NONE, "gone": NONE}},
        "after": {
            "users": {"new": NONE, "batou": {"max_budget": 1.0, "budget_duration": None}},
            "teams": {"research": {"max_budget": 20.0, "budget_duration": "1mo"}},
        },
    }


def test_an_entity_the_collection_did_not_create_is_never_taken_over():
    current = {"users": {"operator-own": (False, NONE)}, "customers": {}, "teams": {}}
    with pytest.raises(BudgetsError, match=r"users operator-own exist and are not managed by tailnet\.llm"):
        plan(current, {"users": [_want("operator-own", 5.0)]})


class FakeLiteLLM:
    """A loopback stand-in of LiteLLM's management API: keeps the entities, records the requests."""

    def __init__(self, master):
        self.master = master
        self.requests = []
        self.users = [{"user_id": "operator-own", "metadata": {}, "max_budget": None, "budget_duration": None}]
        self.users += [
            {"user_id": f"u{i}", "metadata": {"managed_by": "tailnet.llm"}, "max_budget": 1.0, "budget_duration": "1d"}
            for i in range(150)
        ]

    def __call__(self, request):
        self.requests.append((request.method, request.path, request.headers.get("authorization")))
        if request.headers.get("authorization") != f"Bearer {self.master}":
            return 401, {}, b'{"error": {"message": "Authentication Error"}}'
        if request.path.startswith("/user/list"):
            page = int(request.path.split("page=")[1].split("&")[0])
            users = self.users[(page - 1) * 100 : page * 100]
            answer = {"users": users, "total_pages": (len(self.users) + 99) // 100}
        elif request.path in ("/customer/list", "/team/list"):
            answer = []
        else:
            answer = {"ok": json.loads(request.body)}
        return 200, {"Content-Type": "application/json"}, json.dumps(answer).encode()


def test_the_client_reads_every_page_and_writes_only_what_changes():
    api = FakeLiteLLM("sk-m")
    with loopback.http_stub(api) as url:
        gateway = Gateway(url, "sk-m")
        current = read(gateway)
        assert len(current["users"]) == 151
        desired = {"users": [_want(f"u{i}", 1.0, "1d") for i in range(150)]}
        reads = len(api.requests)
        assert sync(gateway, desired)["changed"] is False
        assert {method for method, _path, _auth in api.requests[reads:]} == {"GET"}
        result = sync(gateway, {"users": [_want("u0", 2.0, "1d")]}, check_mode=True)
        assert result["changed"] is True
        assert len(result["actions"]["users"]["delete"]) == 149
        assert "operator-own" not in result["actions"]["users"]["delete"]
        assert {method for method, _path, _auth in api.requests} == {"GET"}  # check mode: reads only
        writes = len(api.requests)
        sync(gateway, {"users": [*desired["users"][:149], _want("new")]})
        assert [(m, p) for m, p, _a in api.requests[writes:] if m == "POST"] == [
            ("POST", "/user/new"),
            ("POST", "/user/delete"),
        ]


def test_a_refused_key_fails_naming_the_endpoint_and_never_the_key():
    api = FakeLiteLLM("sk-right")
    with loopback.http_stub(api) as url, pytest.raises(BudgetsError) as failure:
        read(Gateway(url, "sk-wrong-secret"))
    assert "GET /user/list?page=1&page_size=100: LiteLLM answered 401" in str(failure.value)
    assert "sk-wrong-secret" not in str(failure.value)
