"""The ask_cli role's checks of its input: run by Ansible on the controller, before any change."""

import pytest
from helpers import failures

GOOD = {
    "name": "http://akira:4000",
    "with-v1": "http://akira:4000/v1",
    "ipv4": "http://100.64.10.2:4000",
    "ipv6": "http://[fd7a:115c:a1e0::2]:4000",
    "https": "https://gateway.example.ts.net",
}
BAD = {
    "no-scheme": "akira:4000",
    "ftp": "ftp://akira",
    "unclosed-bracket": "http://[fd7a:115c:a1e0::2:4000",
    "space": "http://akira:4000/v1 x",
}


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    linux = {"ansible_facts": {"system": "Linux"}}
    cases = {case: {**linux, "ask_cli_base_url": url} for case, url in {**GOOD, **BAD}.items()}
    return failures("ask_cli", "validate.yml", cases, tmp_path_factory.mktemp("ask-cli"))


@pytest.mark.parametrize("case", sorted(GOOD))
def test_good_base_url_passes(checked, case):
    assert checked[case] is None


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_base_url_fails_naming_the_variable(checked, case):
    assert checked[case], f"{BAD[case]!r} was accepted"
    assert "ask_cli_base_url" in checked[case]


USER_CASES = {
    "a-users-key": ({"ask_cli_user_keys": {"root": "sk-roots-own"}}, None),
    "no-such-user": (
        {"ask_cli_user_keys": {"root": "sk-roots-own", "nobody-here-9f": "sk-x"}, "ask_cli_api_key_users": ["root"]},
        "host localhost: ask_cli_user_keys names users that do not exist: nobody-here-9f",
    ),
    "no-such-key-user": (
        {"ask_cli_api_key_users": ["nobody-here-9f"]},
        "host localhost: ask_cli_api_key_users names users that do not exist: nobody-here-9f",
    ),
    "a-key-with-a-space": (
        {"ask_cli_user_keys": {"root": "sk-roots own"}},
        "host localhost: ask_cli_api_key and every value of ask_cli_user_keys must be one word without spaces or "
        "line breaks (values hidden)",
    ),
}


@pytest.fixture(scope="module")
def users_checked(tmp_path_factory):
    cases = {
        case: {"ansible_facts": {"system": "Linux"}, **settings} for case, (settings, _message) in USER_CASES.items()
    }
    return failures("ask_cli", "validate.yml", cases, tmp_path_factory.mktemp("ask-cli-users"))


@pytest.mark.parametrize("case", sorted(USER_CASES))
def test_users_and_their_keys_are_checked_naming_the_variable_never_the_key(users_checked, case):
    assert users_checked[case] == USER_CASES[case][1]
    assert "sk-" not in (users_checked[case] or "")
