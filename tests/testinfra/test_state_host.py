"""The state host: Redis and PostgreSQL from the distribution's packages, for the gateways only. Changes nothing.

Checked on the state host itself (units, listening addresses, the Redis ACL file), and from every gateway with
the passwords of its env file (they are on no command line): Redis and PostgreSQL let the gateways in with the
password only, and the gateways' LiteLLM keeps its state there. That no client reaches either port is
tests/testinfra/test_tailnet_firewall.py's.
"""

import hashlib
import shlex

import helpers
import pytest

testinfra_hosts = ["ansible://llm_state_hosts"]

# The units of the distribution's packages, per OS family (the role's vars/<family>.yml).
UNITS = {"debian": ("redis-server", "postgresql"), "fedora": ("valkey", "postgresql")}


@pytest.mark.parametrize("index", [0, 1])
def test_units_are_enabled_and_running(host, index):
    unit = host.service(UNITS[host.system_info.distribution][index])
    assert unit.is_enabled
    assert unit.is_running


@pytest.mark.parametrize("port", ["redis_port", "postgresql_port"])
def test_listens_on_loopback_and_the_bind_address_only(host, port):
    number = helpers.state_host_settings(host)[port]
    bind = helpers.tailnet_ipv4(host)
    assert host.socket(f"tcp://127.0.0.1:{number}").is_listening
    assert host.socket(f"tcp://{bind}:{number}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{number}").is_listening
    assert not host.socket(f"tcp://:::{number}").is_listening


def test_redis_acl_holds_the_passwords_hash_not_the_password(host):
    password = helpers.inventory_vars(host)["state_store_secrets"]["REDIS_PASSWORD"]
    with host.sudo():
        acl = host.file("/etc/redis/users.acl")
        content = acl.content_string
        assert acl.mode == 0o640
        assert acl.user == "root"
    assert password not in content
    assert f"#{hashlib.sha256(password.encode()).hexdigest()}" in content.split()


def _redis(gateway, state_host, command, password=True):
    auth = 'REDISCLI_AUTH="$REDIS_PASSWORD" ' if password else ""
    port = helpers.state_host_settings(state_host)["redis_port"]
    name = helpers.inventory_vars(state_host)["inventory_hostname"]
    return helpers.on_gateway(gateway, f"{auth}redis-cli --no-auth-warning -h {name} -p {port} {command}")


def test_redis_lets_the_gateways_in_with_the_password_only(host):
    for gateway in helpers.group_hosts(host, "llm_gateways"):
        assert _redis(gateway, host, "PING").stdout.strip() == "PONG"
        assert "NOAUTH" in _redis(gateway, host, "PING", password=False).stdout


def test_every_gateway_keeps_its_state_in_redis(host):
    """Each gateway's LiteLLM holds connections to Redis from its tailnet address (router state, coordination)."""
    lines = _redis(helpers.group_hosts(host, "llm_gateways")[0], host, "CLIENT LIST").stdout.splitlines()
    fields = [dict(field.split("=", 1) for field in line.split() if "=" in field) for line in lines]
    # every connection but this test's own redis-cli
    connected = {f["addr"].rsplit(":", 1)[0] for f in fields if f.get("cmd") != "client|list"}
    for gateway in helpers.group_hosts(host, "llm_gateways"):
        addresses = set(helpers.global_addresses(gateway))
        assert connected & addresses, f"no Redis connection from {sorted(addresses)} (connected: {sorted(connected)})"


def test_postgresql_lets_the_gateways_in_with_the_password_only(host):
    settings = helpers.state_host_settings(host)
    name = helpers.inventory_vars(host)["inventory_hostname"]
    url = f"host={name} port={settings['postgresql_port']} dbname={settings['database']} user={settings['user']}"
    query = f"psql {shlex.quote(url)} -XAtc 'select current_user'"
    for gateway in helpers.group_hosts(host, "llm_gateways"):
        assert (
            helpers.on_gateway(gateway, f'PGPASSWORD="$DATABASE_PASSWORD" {query}').stdout.strip() == settings["user"]
        )
        refused = helpers.on_gateway(gateway, f"PGPASSWORD=wrong-password {query}")
        assert "password authentication failed" in refused.stderr
