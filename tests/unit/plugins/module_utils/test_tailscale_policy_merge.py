"""Merging the collection's part into a policy file's text (plugins/module_utils/tailscale_policy_merge.py)."""

import difflib
import json
from pathlib import Path

import pytest
from ansible_collections.tailnet.llm.plugins.module_utils.hujson import loads
from ansible_collections.tailnet.llm.plugins.module_utils.tailscale_policy_merge import (
    BEGIN,
    END,
    allow_all_rules,
    merge_text,
)

POLICIES = {path.name: path for path in (Path(__file__).parent / "policies").iterdir()}
PART = {
    "tagOwners": {"tag:llm-gateway": ["autogroup:admin"], "tag:llm-client": ["autogroup:admin"]},
    "grants": [
        {"src": ["tag:llm-client"], "dst": ["tag:llm-gateway"], "ip": ["tcp:4000"]},
        {"src": ["group:ops"], "dst": ["tag:llm-gateway", "tag:llm-client"], "ip": ["tcp:22"]},
    ],
    "autoApprovers": {"routes": {"10.1.0.0/24": ["tag:llm-gateway"], "10.2.0.0/24": ["tag:llm-gateway"]}},
    "tests": [
        {"src": "tag:llm-client", "proto": "tcp", "accept": ["tag:llm-gateway:4000"], "deny": ["tag:llm-gateway:22"]}
    ],
}


def read(name):
    return POLICIES[name].read_bytes().decode()


def only_inserted(before, after):
    """Whether AFTER is BEFORE with text inserted and nothing taken away or changed (character by character)."""
    opcodes = difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes()
    return all(opcode[0] in ("equal", "insert") for opcode in opcodes)


def in_order(entries, merged):
    """Whether ENTRIES are all in MERGED, in their order."""
    it = iter(merged)
    return all(any(entry == other for other in it) for entry in entries)


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_a_policy_keeps_every_byte_of_the_operators_and_gets_the_part(name):
    text = read(name)
    merged, removed = merge_text(text, PART)
    assert removed == {}
    assert only_inserted(text, merged)
    # Every line the operator wrote is still there, in order (a line may have gained a comma at its end), but a
    # one-line list the collection adds to, which is split before its closing bracket.
    lines = [line.rstrip(",") for line in merged.splitlines()]
    split = [line for line in text.splitlines() if '"10.1.0.0/24": ["group:ops"]' in line]
    assert in_order([line.rstrip(",") for line in text.splitlines() if line not in split], lines)
    before, after = loads(text), loads(merged)
    for section in ("grants", "tests"):
        assert in_order(before.get(section, []), after[section])
        for entry in PART[section]:
            assert entry in after[section]
    assert after["tagOwners"] == {**before.get("tagOwners", {}), **PART["tagOwners"]}
    for key in set(before) - {"tagOwners", "grants", "tests", "autoApprovers"}:
        assert after[key] == before[key]
    # Nothing to do the second time: the same bytes.
    assert merge_text(merged, PART) == (merged, {})
    assert merged.count(BEGIN) == merged.count(END) >= 4


def test_a_crlf_file_stays_crlf():
    merged, _removed = merge_text(read("commented.hujson").replace("\n", "\r\n"), PART)
    assert "\n" not in merged.replace("\r\n", "")


def test_a_plain_json_file_gets_hujson_blocks_and_keeps_its_formatting():
    text = read("plain.json")
    merged, _removed = merge_text(text, PART)
    assert merged.startswith('{\n    "acls": [\n        {\n            "action": "accept",')
    assert (
        f'    "tagOwners": {{\n        "tag:nas": [\n            "group:ops"\n        ],\n        {BEGIN}\n' in merged
    )
    assert '        "tag:llm-gateway": ["autogroup:admin"],\n' in merged


def test_the_operators_entries_towards_the_collections_tags_are_the_operators():
    """The markers say whose an entry is, never its destinations (the grant and the test are the operator's)."""
    text = read("documented.hujson")
    merged, removed = merge_text(text, PART)
    after = loads(merged)
    assert {"src": ["tag:monitoring"], "dst": ["tag:llm-gateway"], "ip": ["tcp:9400"]} in after["grants"]
    assert {"src": "alice@example.com", "deny": ["tag:llm-gateway:22"]} in after["tests"]
    # A part without grants or tests takes only its own block away.
    smaller, removed = merge_text(merged, {"tagOwners": PART["tagOwners"]})
    assert loads(smaller)["grants"] == loads(text)["grants"]
    assert loads(smaller)["tests"] == loads(text)["tests"]
    assert removed["grants"] == PART["grants"]
    assert removed["tests"] == PART["tests"]
    assert smaller.count(BEGIN) == 1  # tagOwners' block


def test_an_operators_route_keeps_its_entry_and_the_collections_approvers_join_it():
    merged, _removed = merge_text(read("documented.hujson"), PART)
    routes = loads(merged)["autoApprovers"]["routes"]
    assert routes == {"10.1.0.0/24": ["group:ops", "tag:llm-gateway"], "10.2.0.0/24": ["tag:llm-gateway"]}
    assert loads(merged)["autoApprovers"]["exitNode"] == ["tag:prod"]
    assert '      "10.1.0.0/24": ["group:ops",\n' in merged
    # The route leaves the part: the block inside the operator's list goes, the operator's approver stays.
    part = {**PART, "autoApprovers": {"exitNode": ["tag:llm-gateway"]}}
    again, removed = merge_text(merged, part)
    assert loads(again)["autoApprovers"] == {
        "routes": {"10.1.0.0/24": ["group:ops"]},
        "exitNode": ["tag:prod", "tag:llm-gateway"],
    }
    assert removed == {
        "autoApprovers.routes.10.1.0.0/24": ["tag:llm-gateway"],
        "autoApprovers.routes": [{"10.2.0.0/24": ["tag:llm-gateway"]}],
    }


def test_the_block_is_the_collections_wherever_the_operator_moves_it():
    merged, _removed = merge_text(read("documented.hujson"), PART)
    grants = merged.index('"grants"')
    start, stop = merged.index(f"    {BEGIN}", grants), merged.index(END, grants)
    block = merged[start : merged.index("\n", stop) + 1]
    # The operator moves the grants' block to the top of the section and adds a rule of theirs inside it.
    hand = '    {"src": ["group:ops"], "dst": ["tag:llm-client"], "ip": ["tcp:8080"]},\n'
    inside = block.replace(f"    {END}\n", hand + f"    {END}\n")
    moved = merged.replace(block, "").replace('"grants": [\n', '"grants": [\n' + inside, 1)
    grants = [*PART["grants"][:1], {"src": ["tag:llm-client"], "dst": ["tag:llm-gateway"], "ip": ["tcp:4001"]}]
    again, removed = merge_text(moved, {**PART, "grants": grants})
    assert loads(again)["grants"][:2] == grants
    assert loads(again)["grants"][2:] == loads(read("documented.hujson"))["grants"]
    assert removed == {"grants": [PART["grants"][1], json.loads(hand.strip().rstrip(","))]}


def test_an_operators_owners_of_a_collection_tag_are_replaced_and_reported():
    text = '{\n  "tagOwners": {\n    "tag:nas": ["group:ops"],\n    "tag:llm-gateway": ["bob@example.com"], // mine\n  },\n}\n'
    merged, removed = merge_text(text, PART)
    assert loads(merged)["tagOwners"] == {"tag:nas": ["group:ops"], **PART["tagOwners"]}
    assert "bob@example.com" not in merged
    assert '    "tag:nas": ["group:ops"],\n' in merged
    assert removed == {"tagOwners": [{"tag:llm-gateway": ["bob@example.com"]}]}


def test_a_file_written_before_the_markers_is_adopted_without_duplicates():
    """The collection's entries as the earlier version wrote them (plain JSON, no markers) move into the blocks."""
    old = json.dumps({"groups": {"group:ops": ["a@example.com"]}, **PART}, indent=2)
    merged, removed = merge_text(old, PART)
    after = loads(merged)
    assert after == {"groups": {"group:ops": ["a@example.com"]}, **PART}
    assert removed == {}
    assert merged.count(BEGIN) == 5  # tagOwners, grants, tests, the route an "operator's" entry holds, routes


def test_a_new_file_and_an_empty_one():
    for text in ("", "{}", "  \n"):
        merged, _removed = merge_text(text, PART)
        assert loads(merged) == PART
    assert merge_text("{}", PART)[0].startswith('{\n  "tagOwners": {\n    ' + BEGIN)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "the policy file is a JSON array, not an object"),
        ('{"grants": {}}', "grants at line 1 is no array"),
        (
            '{"grants": [\n  // BEGIN tailnet.llm managed\n  {"src": ["*"]},\n]}',
            r"BEGIN at line 2: a section holds one",
        ),
        (
            '{"grants": [\n  // END tailnet.llm managed\n  // BEGIN tailnet.llm managed\n]}',
            "END at line 2, BEGIN at line 3",
        ),
        (
            '{"grants": [{\n  // BEGIN tailnet.llm managed\n  "src": ["*"],\n  // END tailnet.llm managed\n}]}',
            r"line 2: a 'tailnet.llm managed' marker in grants.\[\], a place the collection does not write",
        ),
        ("// BEGIN tailnet.llm managed\n{}", "line 1: a 'tailnet.llm managed' marker outside the policy's object"),
        ('{"grants": [}', "line 1, column 13"),
    ],
)
def test_what_cannot_be_merged_is_said_with_its_line(text, message):
    with pytest.raises(ValueError, match=message):
        merge_text(text, PART)


def test_a_part_without_tags_owns_nothing():
    with pytest.raises(ValueError, match="names no tags"):
        merge_text("{}", {"grants": []})


def test_allow_all_rules_are_found_with_their_line():
    assert allow_all_rules(read("default.hujson")) == [("grants[0]", 18, '{"src": ["*"], "dst": ["*"], "ip": ["*"]}')]
    text = '{\n  "acls": [\n    {"action": "accept", "src": ["group:ops"], "dst": ["*:*"]},\n' + (
        '    {\n      "action": "accept",\n      "users": ["*"],\n      "ports": ["*:*"],\n    },\n  ],\n}'
    )
    assert allow_all_rules(text) == [
        ("acls[1]", 4, '{ "action": "accept", "users": ["*"], "ports": ["*:*"], }'),
    ]
    assert allow_all_rules(read("documented.hujson")) == []
