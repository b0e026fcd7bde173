"""A key per client: from each client, with the key `ask` uses there, against every gateway. Changes nothing
(but the client's request count of the current minute).

The key on the client is its own (never the master key); on every gateway it reaches the client's models and
no other; a client with a requests-per-minute limit gets 429 once it has made that many requests, counted
across all gateways (with per-gateway counting, alternating between two gateways would double it).
"""

import hashlib

import helpers
import pytest

testinfra_hosts = ["ansible://llm_clients_linux"]


def _settings(host):
    hostvars = helpers.inventory_vars(host)
    return hostvars["llm_client_key"], hostvars.get("llm_client_models") or [], hostvars.get("llm_client_rpm")


def test_the_key_is_the_clients_own_never_the_master_key(host):
    key, _, _ = _settings(host)
    gateway = helpers.group_hosts(host, "llm_gateways")[0]
    master = helpers.inventory_vars(gateway)["litellm_env_secrets"]["LITELLM_MASTER_KEY"]
    with host.sudo():
        installed = host.file(helpers.CLIENT_KEY_FILE).content_string.strip()
    assert hashlib.sha256(installed.encode()).digest() == hashlib.sha256(key.encode()).digest()
    assert master not in installed


def test_every_gateway_lets_the_client_reach_its_models_only(host):
    _, models, _ = _settings(host)
    for gateway in helpers.group_hosts(host, "llm_gateways"):
        served = helpers.gateway_settings(gateway)["aliases"]
        allowed = [m for m in served if not models or m in models]
        refused = [m for m in served if models and m not in models]
        assert [helpers.client_request(host, gateway, m) for m in allowed[:1] + refused[:1]] == ["200"] + ["403"] * len(
            refused[:1]
        )


def test_the_requests_per_minute_are_counted_across_the_gateways(host):
    _, models, rpm = _settings(host)
    if not rpm:
        pytest.skip("this client has no requests-per-minute limit")
    gateways = helpers.group_hosts(host, "llm_gateways")
    if len(gateways) < 2:
        pytest.skip("one gateway: nothing is counted across gateways")
    model = models[0] if models else "default"
    statuses = []
    for index in range(2 * rpm + 2):  # alternating, so per-gateway counting would let 2 * rpm through
        statuses.append(helpers.client_request(host, gateways[index % len(gateways)], model))
        if statuses[-1] == "429":
            break
    assert statuses[-1] == "429", f"no 429 after {len(statuses)} requests: {statuses}"
    assert statuses.count("200") <= rpm, f"{statuses.count('200')} requests went through, more than {rpm}: {statuses}"
    assert all(status == "200" for status in statuses[:-1]), statuses
