"""The HuJSON parser the policy file is edited with (plugins/module_utils/hujson.py)."""

import json
from pathlib import Path

import pytest
from ansible_collections.tailnet.llm.plugins.module_utils.hujson import HuJSONError, line_of, loads, parse, splice

POLICIES = sorted((Path(__file__).parent / "policies").iterdir())


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_the_fixtures_parse(path):
    text = path.read_bytes().decode()
    assert isinstance(loads(text), dict)
    if path.suffix == ".json":
        assert loads(text) == json.loads(text)


def test_comments_and_trailing_commas():
    text = '// head\n{\n  "a": "x // not a comment", /* block */\n  "b": [1, 2.5e3, true, null,],\n  "c": "/*",\n}\n'
    assert loads(text) == {"a": "x // not a comment", "b": [1, 2500.0, True, None], "c": "/*"}
    assert loads('{"a": "\\"//", "b": "\\u00e9"}') == {"a": '"//', "b": "\u00e9"}


def test_every_node_knows_where_it_is():
    text = '{\n  "grants": [\n    {"src": ["*"]}, // one\n    /* two */ {"src": ["a"]}\n  ],\n}'
    document = parse(text)
    grants = document.root.get("grants")
    assert text[grants.start : grants.value.start] == '"grants": '
    first, second = grants.value.items
    assert text[first.value.start : first.value.end] == '{"src": ["*"]}'
    assert text[first.comma] == ","
    assert second.comma is None
    assert text[second.value.start : second.value.end] == '{"src": ["a"]}'
    assert [c.text for c in grants.value.comments] == ["// one", "/* two */"]
    assert line_of(text, second.value.start) == 4


def test_comments_belong_to_the_container_they_are_directly_in():
    document = parse('{"a": [ // in a\n 1, {"b": 2 /* in b */}], // in the root\n}')
    assert [c.text for c in document.root.comments] == ["// in the root"]
    array = document.root.get("a").value
    assert [c.text for c in array.comments] == ["// in a"]
    assert [c.text for c in array.items[1].value.comments] == ["/* in b */"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{\n  "a": 1 /* never closed\n}', "line 2, column 10: a /* comment is never closed"),
        ('{\n  "a": 1\n  "b": 2\n}', 'line 3, column 3: "," or "}" is expected here'),
        ('{"a": 1}\n{"b": 2}', "line 2, column 1: nothing but comments may follow"),
        ("{a: 1}", 'line 1, column 2: a key in double quotes or "}"'),
        ('{"a": }', "line 1, column 7: a value is expected here"),
        ('{"a": nope}', "line 1, column 7: a value (a string in double quotes"),
        ("", "line 1, column 1: a value is expected here"),
    ],
)
def test_errors_name_the_line_and_column(text, message):
    with pytest.raises(HuJSONError, match=message.replace("(", r"\(").replace("*", r"\*")):
        parse(text)


def test_splice_applies_edits_from_the_end_and_keeps_insertions_in_order():
    assert splice("abcdef", [(1, 2, "B"), (4, 4, "1"), (4, 4, "2"), (5, 6, "")]) == "aBcd12e"
