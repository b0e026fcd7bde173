"""The ask_cli role on a Linux workstation: the client, its settings for every user, the key file.

Reusable: every expected value comes from the inventory (role defaults otherwise), so the stack
scenario and real hosts can run this module as it is.
"""

import shlex

import pytest
import yaml
from helpers import REPO

testinfra_hosts = ["ansible://llm_clients"]

VERSION = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]


def test_client_installed(client, settings):
    f = client.file(settings["ask_cli_install_path"])
    assert f.is_file
    assert (f.user, f.group, f.mode) == ("root", "root", 0o755)
    assert f.content_string == (REPO / "roles" / "ask_cli" / "files" / "ask").read_text()


@pytest.mark.parametrize(("args", "expected"), [("--version", f"ask {VERSION}\n"), ("--help", "usage: ask [options]")])
def test_client_runs(client, settings, args, expected):
    result = client.run(f"{settings['ask_cli_install_path']} {args}")
    assert (result.rc, result.stderr) == (0, "")
    assert result.stdout.startswith(expected)


def test_environment_file(client, settings):
    f = client.file("/etc/profile.d/ask.sh")
    assert (f.user, f.group, f.mode) == ("root", "root", 0o644)
    lines = [line for line in f.content_string.splitlines() if line.startswith("export ")]
    expected = [
        f"export ASK_BASE_URL={shlex.quote(settings['ask_cli_base_url'])}",
        f"export ASK_MODEL={shlex.quote(settings['ask_cli_model'])}",
    ]
    if settings["ask_cli_api_key"]:
        expected.append("export ASK_API_KEY_FILE=/etc/ask/api_key")
        assert settings["ask_cli_api_key"] not in f.content_string
    assert lines == expected


@pytest.mark.parametrize("user", ["root", "alice", "bob"])
def test_login_shells_get_the_settings(login_shell, settings, user):
    result = login_shell(user, 'command -v ask; echo "$ASK_BASE_URL $ASK_MODEL"')
    assert result.stdout.split("\n")[:2] == [
        settings["ask_cli_install_path"],
        f"{settings['ask_cli_base_url']} {settings['ask_cli_model']}",
    ]


def test_key_file(client, settings):
    f = client.file("/etc/ask/api_key")
    if not settings["ask_cli_api_key"]:
        assert not f.exists
        return
    assert (f.user, f.group, f.mode) == ("root", settings["ask_cli_group"], 0o640)
    assert f.mode & 0o007 == 0  # not world-readable
    assert f.content_string.strip() == settings["ask_cli_api_key"]


def test_only_the_key_users_can_read_the_key(client, settings):
    members = client.group(settings["ask_cli_group"]).members if settings["ask_cli_api_key"] else []
    assert sorted(members) == sorted(settings["ask_cli_api_key_users"])
    for user in ("alice", "bob"):
        readable = client.run(f"runuser -u {user} -- cat /etc/ask/api_key").rc == 0
        assert readable == (user in members), user


def test_no_other_file_holds_the_key(client, settings):
    if not settings["ask_cli_api_key"]:
        pytest.skip("no key configured")
    found = client.run(f"grep -rlF -- {shlex.quote(settings['ask_cli_api_key'])} /etc /usr/local /root /home")
    assert found.stdout.split() == ["/etc/ask/api_key"]
