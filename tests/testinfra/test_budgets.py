"""Budgets and spend in database mode, through every gateway (the gateways share the state host's PostgreSQL).

A caller with a budget (a user of a client with `budget` in llm_client_users, calling a priced model) spends it
through the first gateway until that gateway refuses it for its budget; every other gateway then refuses it too.
Every caller's spend is recorded for its LiteLLM user (the client host), its customer (HOST/USER) and its team,
as the operator reads it from any gateway's management API. It spends a lab caller's budget for good (30 days):
the lab's riviera is there for this alone.
"""

import json
import time

import helpers
import pytest

testinfra_hosts = ["ansible://llm_state_hosts"]

REQUESTS = 20  # at most, to spend the budget, 1.5 s apart (LiteLLM counts a request's cost once it has answered)
BOUND = 90  # seconds for another gateway, or the management API, to see the spend


def _budgeted(host):
    """(client host, caller) of the first caller of llm_clients with a budget of its own, and a model it may call
    that costs something (priced in its vllm_backends entry)."""
    for client in helpers.group_hosts(host, "llm_clients_linux"):
        for caller in helpers.client_callers(client):
            if caller["user"] and caller["budget"]:
                return client, caller
    pytest.fail("no user of a client in the inventory has a budget: the lab must exercise one")


def _chat(client, gateway, caller):
    body = {"model": caller["models"][0], "messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 1}
    status, text, _ = helpers.client_chat(client, gateway, body, timeout=60, key_file=caller["key_file"])
    return status, text


def _refused_for_budget(status, text):
    try:
        error = json.loads(text).get("error") or {}
    except ValueError:
        return False
    return status == 422 and error.get("type") == "budget_exceeded"


def _info(gateway, path):
    status, text = helpers.gateway_request(gateway, path, timeout=30)
    assert status == 200, f"{path}: {status} {text}"
    return json.loads(text)


def test_a_budget_spent_through_one_gateway_is_refused_by_every_gateway(host):
    client, caller = _budgeted(host)
    first, *others = helpers.group_hosts(host, "llm_gateways")
    assert others, "the lab has two gateways"
    assert caller["models"], f"{caller['name']} must be limited to a priced model"
    answers = []
    for _ in range(REQUESTS):
        status, text = _chat(client, first, caller)
        answers.append(status)
        if _refused_for_budget(status, text):
            break
        assert status == 200, f"{caller['name']} through {first.backend.host}: {status} {text}"
        time.sleep(1.5)
    else:
        pytest.fail(f"{caller['name']} was not refused for its budget after {REQUESTS} requests: {answers}")
    for gateway in others:
        deadline = time.monotonic() + BOUND
        status, text = _chat(client, gateway, caller)
        while not _refused_for_budget(status, text) and time.monotonic() < deadline:
            time.sleep(3)
            status, text = _chat(client, gateway, caller)
        assert _refused_for_budget(status, text), f"{caller['name']} through {gateway.backend.host}: {status} {text}"


@pytest.mark.parametrize("entity", ["customer", "user", "team"])
def test_spend_is_recorded_and_read_from_every_gateway(host, entity):
    client, caller = _budgeted(host)
    team = next(
        (t["name"] for t in helpers.inventory_vars(host).get("llm_teams", []) if caller["name"] in t["members"]),
        None,
    )
    if entity == "team" and team is None:
        pytest.fail(f"{caller['name']} is in no team of llm_teams: the lab's budgeted user must be in one")
    first = helpers.group_hosts(host, "llm_gateways")[0]
    status, text = _chat(client, first, caller)  # spends, or is refused (its budget may be spent already)
    assert status == 200 or _refused_for_budget(status, text), text
    paths = {
        "customer": f"/customer/info?end_user_id={caller['name']}",
        "user": f"/user/info?user_id={client.backend.host}",
        "team": f"/team/info?team_id={team}",
    }
    for gateway in helpers.group_hosts(host, "llm_gateways"):
        deadline = time.monotonic() + BOUND
        spend = _spend(_info(gateway, paths[entity]), entity)
        while not spend and time.monotonic() < deadline:
            time.sleep(3)
            spend = _spend(_info(gateway, paths[entity]), entity)
        assert spend > 0, f"{entity} of {caller['name']}: no spend recorded, read through {gateway.backend.host}"


def _spend(info, entity):
    if entity == "team":
        return (info.get("team_info") or {}).get("spend") or 0
    if entity == "user":
        return (info.get("user_info") or {}).get("spend") or 0
    return info.get("spend") or 0
