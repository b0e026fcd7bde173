"""A key per client: from each client, with the key `ask` uses there, against every gateway. Changes nothing
(but the client's request count of the current minute).

The key on the client is its own (never the master key); on every gateway it reaches the client's models and
no other; a client with a requests-per-minute limit gets 429 once it has made that many requests, counted
across all gateways (with per-gateway counting, alternating between two gateways would double it). Each user
the client lists has a key of their own that only they can read, which `ask` sends for them, and the gateway
logs their requests under HOST/USER.
"""

import hashlib
import re
import shlex
import time
from urllib.parse import urlsplit

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


def test_no_file_on_the_client_holds_the_master_key(host):
    gateway = helpers.group_hosts(host, "llm_gateways")[0]
    master = helpers.inventory_vars(gateway)["litellm_env_secrets"]["LITELLM_MASTER_KEY"]
    # Every string in the client's files shaped as the master key is (its first 3 characters, then as many
    # letters and digits as it has), compared here: the master key never goes to the client, not even to grep.
    shape = f"{re.escape(master[:3])}[A-Za-z0-9]{{{len(master) - 3}}}"
    with host.sudo():
        paths = [
            path
            for path in ("/etc", "/home", "/root", "/usr/local", "/opt", "/var/lib", "/tmp")
            if host.file(path).exists
        ]
        found = host.run("grep -rhoE %s " + " ".join(paths), shape)
    assert found.rc in (0, 1), found.stderr  # 0: matches, 1: none, 2: the search itself failed
    assert _digest(master) not in {_digest(text) for text in found.stdout.split()}


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


def _users(host):
    """The users the client lists, as callers of the gateways (helpers.client_callers), but those with a budget of
    their own: test_budgets.py spends it, and a spent budget refuses every request."""
    return [caller for caller in helpers.client_callers(host) if caller["user"] and not caller["budget"]]


def _digest(text):
    return hashlib.sha256(text.strip().encode()).hexdigest()


def test_each_listed_user_has_their_own_key_that_only_they_read(host):
    users = _users(host)
    if not users:
        pytest.skip("this client lists no users")
    for caller in users:
        path, user = caller["key_file"], caller["user"]
        with host.sudo():
            f = host.file(path)
            assert (f.user, f.mode, _digest(f.content_string)) == (user, 0o600, _digest(caller["key"]))
            readers = [o["user"] for o in users if host.run(f"runuser -u {o['user']} -- cat {path}").rc == 0]
        assert readers == [user]


def test_ask_sends_each_users_own_key_and_the_gateway_logs_the_user(host):
    users = _users(host)
    if not users:
        pytest.skip("this client lists no users")
    hostvars = helpers.inventory_vars(host)
    gateway = helpers.inventory_host(host, urlsplit(hostvars["ask_cli_base_url"]).hostname)
    served = helpers.gateway_settings(gateway)["aliases"]
    since = int(time.time()) - 1
    for caller in users:
        user, models = caller["user"], caller["models"]
        allowed = [m for m in served if not models or m in models]
        refused = [m for m in served if models and m not in models]
        codes = []
        for model in allowed[:1] + refused[:1]:
            with host.sudo():
                command = f"ask -m {model} --max-tokens 1 'Say OK.'"
                codes.append(host.run(f"runuser -l {user} -c {shlex.quote(command)}").rc)
        # exit 4: the gateway refused the user's key for that model (403), which the host's key would not be
        assert codes == [0] + [4] * len(refused[:1]), (user, allowed[:1] + refused[:1], codes)
    with gateway.sudo():
        log = gateway.check_output(f"journalctl -u litellm --since @{since} -o cat --no-pager")
    for caller in users:
        assert f"tailnet-llm: client {caller['name']}: POST /v1/chat/completions" in log
