"""The state host's Redis files and input checks, rendered by the state_store role's own templates and tasks."""

import hashlib

import helpers
import yaml

PASSWORDS = {"REDIS_PASSWORD": "redis-password-never-in-a-file", "DATABASE_PASSWORD": "db-password-never-shown"}


def test_redis_holds_the_passwords_hash_and_listens_where_the_gateways_reach_it(tmp_path):
    variables = {"state_store_secrets": PASSWORDS, "state_store_bind_address": "100.64.10.6"}
    # the OS family's variables, as the role loads them on the lab's Debian
    variables.update(yaml.safe_load((helpers.REPO / "roles/state_store/vars/Debian.yml").read_text()))
    files = helpers.render(
        "state_store", {"acl": ("users.acl.j2", variables), "conf": ("redis.conf.j2", variables)}, tmp_path
    )
    digest = hashlib.sha256(PASSWORDS["REDIS_PASSWORD"].encode()).hexdigest()
    assert files["acl"].strip() == f"user default on #{digest} ~* &* +@all"
    assert "bind 100.64.10.6 127.0.0.1 -::1\n" in files["conf"]
    assert "aclfile /etc/redis/users.acl\n" in files["conf"]
    for text in files.values():
        assert all(password not in text for password in PASSWORDS.values())


def test_bad_input_fails_before_any_change(tmp_path):
    checked = helpers.failures(
        "state_store",
        "validate.yml",
        {
            "no-passwords": {},
            "no-database-password": {"state_store_secrets": {"REDIS_PASSWORD": "x"}},
            "loopback-for-gateways": {"state_store_secrets": PASSWORDS, "state_store_sources": ["100.64.10.2"]},
            "good": {
                "state_store_secrets": PASSWORDS,
                "state_store_sources": ["100.64.10.2"],
                "state_store_bind_address": "100.64.10.6",
            },
        },
        tmp_path,
    )
    assert checked["no-passwords"].startswith(
        "host localhost: state_store_secrets must hold REDIS_PASSWORD and DATABASE_PASSWORD"
    )
    assert checked["no-database-password"].startswith("host localhost: state_store_secrets must hold DATABASE_PASSWORD")
    assert checked["loopback-for-gateways"] == (
        "host localhost: state_store_sources lets 100.64.10.2 reach Redis and PostgreSQL, so state_store_bind_address"
        " must be this host's tailnet address, not 127.0.0.1"
    )
    assert checked["good"] is None
