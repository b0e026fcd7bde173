"""PostgreSQL down on the state host: the gateways keep answering the callers they know, and no recorded spend is
lost.

The collection's choice (general_settings.allow_requests_on_db_unavailable in database mode): the auth hook knows
every caller without the database, so while PostgreSQL is down every gateway answers a client's key, unchecked
against its budget, rather than refusing everyone. The spend recorded before the outage is still there, read
through every gateway, once PostgreSQL is back. Lab only (TAILNET_LLM_FAULTS=yes), as the other fault tests.

The caller is in no team: a member of a team is refused (401) by a gateway that has not its team cached while
PostgreSQL is down (LiteLLM 1.106.2 lets a team key through an unreadable team only when the token names the
team's models; measured in the lab on 2026-12-06: armitage, of lab-team, 4 x 200 through akira, 4 x 401 through
kaneda). docs/budgets.md says so.
"""

import json
import time

import helpers
import pytest

testinfra_hosts = ["ansible://llm_state_hosts"]

REQUESTS = 4  # through each gateway while PostgreSQL is down
BOUND = 120  # seconds for the spend to be recorded, and for the gateways to read it again after the outage
PRICED = "akira/smollm2-135m"  # the lab's priced model (host_vars/akira): its requests move the spend


def _caller(host):
    """(client host, the first client host's own caller) that may call PRICED, with no budget and no requests-per-
    minute limit of its own (the test sends a dozen requests in a minute)."""
    for client in helpers.group_hosts(host, "llm_clients_linux"):
        for caller in helpers.client_callers(client):
            if (
                caller["user"] is None
                and caller["rpm"] is None
                and (not caller["models"] or PRICED in caller["models"])
            ):
                return client, caller
    pytest.fail(f"no client host of the inventory may call {PRICED} with its own key")


def _spend(gateway, user):
    status, text = helpers.gateway_request(gateway, f"/user/info?user_id={user}", timeout=30)
    if status != 200:
        return None
    return (json.loads(text).get("user_info") or {}).get("spend") or 0.0


def _wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds
    while not (answer := predicate()) and time.monotonic() < deadline:
        time.sleep(3)
    return answer


def test_known_callers_are_answered_while_postgresql_is_down_and_no_spend_is_lost(host):
    client, caller = _caller(host)
    user = client.backend.host
    gateways = helpers.group_hosts(host, "llm_gateways")
    before = _spend(gateways[0], user) or 0.0
    assert helpers.client_request(client, gateways[0], PRICED, caller["key_file"]) == "200"
    recorded = _wait_for(lambda: (_spend(gateways[0], user) or 0.0) > before and _spend(gateways[0], user), BOUND)
    assert recorded, f"the spend of {user} did not grow within {BOUND} s of a priced request"

    with host.sudo():
        host.check_output("systemctl stop postgresql")
    try:
        answers = {
            gateway.backend.host: [
                helpers.client_request(client, gateway, PRICED, caller["key_file"]) for _ in range(REQUESTS)
            ]
            for gateway in gateways
        }
    finally:
        with host.sudo():
            host.check_output("systemctl start postgresql")
    assert all(status == "200" for statuses in answers.values() for status in statuses), answers

    for gateway in gateways:
        after = _wait_for(lambda gateway=gateway: _spend(gateway, user), BOUND) or 0.0
        assert after >= recorded, (
            f"{gateway.backend.host}: the spend of {user} is {after} after the outage, {recorded} before it"
        )
