"""Merging the collection's part into a policy file (plugins/module_utils/tailscale_policy_merge.py)."""

import json

import pytest
from ansible_collections.tailnet.llm.plugins.module_utils.tailscale_policy_merge import merge, owned, parse_policy

NAMESPACE = {"tag:llm-gateway", "tag:llm-client"}
PART = {
    "tagOwners": {"tag:llm-gateway": ["autogroup:admin"], "tag:llm-client": ["autogroup:admin"]},
    "grants": [{"src": ["tag:llm-client"], "dst": ["tag:llm-gateway"], "ip": ["tcp:4000"]}],
    "autoApprovers": {"routes": {"10.1.0.0/24": ["tag:llm-gateway"]}, "exitNode": ["tag:llm-gateway"]},
    "tests": [{"src": "tag:llm-client", "proto": "tcp", "accept": ["tag:llm-gateway:4000"]}],
}
HAND = {
    "groups": {"group:ops": ["alice@example.com"]},
    "tagOwners": {"tag:nas": ["group:ops"], "tag:llm-client": ["bob@example.com"]},
    "grants": [
        {"src": ["group:ops"], "dst": ["tag:nas"], "ip": ["*"]},
        {"src": ["bob@example.com"], "dst": ["tag:llm-gateway"], "ip": ["tcp:4000"]},  # towards ours alone
        {"src": ["group:ops"], "dst": ["tag:nas", "tag:llm-gateway"], "ip": ["tcp:443"]},  # mixed: the operator's
    ],
    "acls": [{"action": "accept", "src": ["group:ops"], "dst": ["tag:llm-client:22", "tag:llm-gateway:*"]}],
    "autoApprovers": {"routes": {"10.1.0.0/24": ["group:ops", "tag:llm-gateway"]}, "exitNode": ["group:ops"]},
    "tests": [{"src": "alice@example.com", "accept": ["tag:nas:445"]}],
    "ssh": [{"action": "check", "src": ["autogroup:member"], "dst": ["autogroup:self"], "users": ["root"]}],
}


def test_hujson_comments_and_trailing_commas():
    text = '// head\n{\n  "a": "x // not a comment", /* block */\n  "b": [1, 2,],\n  "c": "/*",\n}\n'
    assert parse_policy(text) == ({"a": "x // not a comment", "b": [1, 2], "c": "/*"}, True)
    assert parse_policy('{"a": "\\"//"}') == ({"a": '"//'}, False)


def test_a_policy_file_must_be_an_object():
    with pytest.raises(ValueError, match="JSON list"):
        parse_policy("[]")


@pytest.mark.parametrize(
    ("entry", "section", "ours"),
    [
        ({"src": ["*"], "dst": ["tag:llm-gateway"], "ip": ["*"]}, "grants", True),
        ({"src": ["*"], "dst": ["tag:llm-gateway", "tag:nas"], "ip": ["*"]}, "grants", False),
        ({"src": ["*"], "dst": ["*"], "ip": ["*"]}, "grants", False),
        ({"action": "accept", "src": ["*"], "dst": ["tag:llm-client:22,80"]}, "acls", True),
        ({"action": "accept", "users": ["*"], "ports": ["*:*"]}, "acls", False),
        ({"src": "tag:nas", "deny": ["tag:llm-gateway:4000"]}, "tests", True),
        ({"src": "tag:llm-client", "accept": ["tag:nas:445"]}, "tests", False),
    ],
)
def test_what_is_the_collections(entry, section, ours):
    assert owned(entry, section, NAMESPACE) is ours


def test_the_operators_entries_are_kept_in_order():
    merged, removed = merge(HAND, PART)
    assert merged["groups"] == HAND["groups"]
    assert merged["ssh"] == HAND["ssh"]
    assert merged["tagOwners"] == {"tag:nas": ["group:ops"], **PART["tagOwners"]}
    # The collection's grant takes the place of the first grant towards its tags alone.
    assert merged["grants"] == [HAND["grants"][0], PART["grants"][0], HAND["grants"][2]]
    assert merged["acls"] == []
    assert merged["tests"] == [HAND["tests"][0], PART["tests"][0]]
    assert merged["autoApprovers"] == {
        "routes": {"10.1.0.0/24": ["group:ops", "tag:llm-gateway"]},
        "exitNode": ["group:ops", "tag:llm-gateway"],
    }
    assert removed == {"grants": [HAND["grants"][1]], "acls": HAND["acls"]}


def test_merging_again_changes_nothing():
    once, _removed = merge(HAND, PART)
    twice, removed = merge(json.loads(json.dumps(once)), PART)
    assert twice == once
    assert removed == {}


def test_a_role_that_is_gone_takes_its_rules_with_it():
    once, _removed = merge(HAND, PART)
    smaller = {**PART, "grants": [], "tests": [], "autoApprovers": {}}
    merged, removed = merge(once, smaller)
    assert merged["grants"] == [HAND["grants"][0], HAND["grants"][2]]
    assert merged["autoApprovers"] == {"routes": {"10.1.0.0/24": ["group:ops"]}, "exitNode": ["group:ops"]}
    assert removed["grants"] == PART["grants"]


def test_an_empty_file_gets_only_the_part():
    merged, _removed = merge({}, PART)
    assert merged == PART


def test_the_current_file_is_not_modified():
    before = json.dumps(HAND, sort_keys=True)
    merge(HAND, PART)
    assert json.dumps(HAND, sort_keys=True) == before


def test_a_part_without_tags_owns_nothing():
    with pytest.raises(ValueError, match="names no tags"):
        merge(HAND, {"grants": []})
