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
    if settings["ask_cli_user_keys"]:
        expected.append("export ASK_API_KEY_DIR=/etc/ask/keys")
        assert not [key for key in settings["ask_cli_user_keys"].values() if key in f.content_string]
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
    for user in ("alice", "bob", "carol"):
        readable = client.run(f"runuser -u {user} -- cat /etc/ask/api_key").rc == 0
        assert readable == (user in members), user


def _keys(settings):
    """(file, key, owner, group, mode) of every key file the role writes."""
    shared = [("/etc/ask/api_key", settings["ask_cli_api_key"], "root", settings["ask_cli_group"], 0o640)]
    own = [(f"/etc/ask/keys/{user}", key, user, "root", 0o600) for user, key in settings["ask_cli_user_keys"].items()]
    return [entry for entry in shared if entry[1]] + own


def test_no_other_file_holds_a_key(client, settings):
    keys = _keys(settings)
    if not keys:
        pytest.skip("no key configured")
    for path, key, _, _, _ in keys:
        found = client.run(f"grep -rlF -- {shlex.quote(key)} /etc /usr/local /root /home")
        assert found.stdout.split() == [path]


def test_each_users_own_key_only_that_user_reads(client, settings):
    own = [entry for entry in _keys(settings) if entry[0].startswith("/etc/ask/keys/")]
    if not own:
        pytest.skip("no user has a key of their own")
    directory = client.file("/etc/ask/keys")
    assert (directory.user, directory.mode) == ("root", 0o711)
    assert client.run("runuser -u alice -- ls /etc/ask/keys").rc != 0  # nobody lists whose keys are there
    # a former user's key is gone: the directory holds the listed users' keys only
    assert sorted(client.run("ls -A /etc/ask/keys").stdout.split()) == sorted(entry[2] for entry in own)
    for path, key, owner, group, mode in own:
        f = client.file(path)
        assert (f.user, f.group, f.mode, f.content_string) == (owner, group, mode, key + "\n")
        for user in ("alice", "bob", "carol"):
            readable = client.run(f"runuser -u {user} -- cat {path}").rc == 0
            assert readable == (user == owner), (user, path)
