# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merging the collection's part into a tailnet policy file by editing its text, keeping what the operator wrote.

Internal to this collection (used by the tailnet.llm.tailscale_policy module): the interfaces may change in any
release.

The collection's entries are the ones between two marker comments, in each section it manages:

    "grants": [
      {"src": ["group:ops"], "dst": ["tag:nas"], "ip": ["tcp:445"]},  // the operator's
      // BEGIN tailnet.llm managed: ...
      {"src": ["tag:llm-client"], "dst": ["tag:llm-gateway"], "ip": ["tcp:4000"]},
      // END tailnet.llm managed
    ],

- arrays (`grants`, `tests`, ... and `autoApprovers.exitNode`): the block holds the collection's entries. An entry
  outside the block that is equal to one of them (a file written before the markers, or a copy) moves into it:
  the file means the same, and the entry is not there twice;
- objects (`tagOwners`, `autoApprovers.routes`): the block holds the collection's keys. Keys are unique, so the
  same key outside the block (the operator's `tag:llm-gateway` owners, say) is replaced by the block's, and listed
  as removed when it said something else. A route the operator already lists outside the block keeps its entry:
  the collection's approvers of that route go in a block inside its array;
- sections and blocks are created at the end of their container when missing; a block the part no longer fills
  goes away with its markers.
Nothing outside the blocks is rewritten: comments, blank lines, trailing commas, indentation and the order of the
operator's entries stay byte for byte. The operator may move a block anywhere in its section (markers and all);
entries written inside a block are replaced on the next run. The markers are what says whose an entry is, never
its destinations: an operator's rule towards the collection's tags stays the operator's.
"""

from __future__ import annotations

import json
import re

from ansible_collections.tailnet.llm.plugins.module_utils.hujson import (
    indent_of,
    line_of,
    line_start,
    parse,
    splice,
    starts_line,
)

MARK = "tailnet.llm managed"
BEGIN = f"// BEGIN {MARK}: written from the inventory by tailnet.llm.tailscale_policy, edits inside are replaced"
END = f"// END {MARK}"
_MARKER = re.compile(r"//\s*(BEGIN|END)\s+tailnet\.llm\s+managed\b")
# A line longer than this is written as indented JSON instead.
_WIDTH = 118


# -- reading ----------------------------------------------------------------------------------
def _markers(node):
    return [(m.group(1), c) for c in node.comments for m in [_MARKER.match(c.text)] if m]


def _where(path):
    return ".".join(path) or "the policy file"


def _block(text, node, path):
    """(BEGIN comment, END comment, entries inside) of NODE's block, or None; ValueError when malformed."""
    markers = _markers(node)
    if not markers:
        return None
    kinds = [kind for kind, _comment in markers]
    lines = ", ".join(f"{kind} at line {line_of(text, c.start)}" for kind, c in markers)
    if kinds != ["BEGIN", "END"]:
        raise ValueError(
            f"{_where(path)} has the markers {lines}: a section holds one block, '// BEGIN {MARK}' then "
            f"'// END {MARK}'; fix or remove them (the collection writes its block again)"
        )
    begin, end = markers[0][1], markers[1][1]
    inside = []
    for item in node.items:
        if begin.end <= item.start and item.value.end <= end.start:
            inside.append(item)
        elif item.start < end.start and begin.start < item.value.end:
            raise ValueError(f"{_where(path)}: the marker at line {line_of(text, begin.start)} is inside an entry")
    return begin, end, inside


def _node(document, path, kind):
    """The container at PATH (keys from the root), or None when a key is missing."""
    node = document.root
    for depth, key in enumerate(path):
        if node.kind != "object":
            raise ValueError(f"{_where(path[:depth])} at line {line_of(document.text, node.start)} is no object")
        item = node.get(key)
        if item is None:
            return None
        node = item.value
    if node.kind != kind:
        raise ValueError(f"{_where(path)} at line {line_of(document.text, node.start)} is no {kind}")
    return node


def _entry(item, kind):
    return (item.key, item.value.value) if kind == "object" else item.value.value


def check_markers(text, managed):
    """ValueError naming the line of a marker that is in no container MANAGED(path) accepts."""

    def walk(node, path):
        if node.kind == "scalar":
            return
        markers = _markers(node)
        if markers and not managed(path):
            raise ValueError(
                f"line {line_of(text, markers[0][1].start)}: a '{MARK}' marker in {_where(path)}, a place the "
                "collection does not write: remove it"
            )
        for item in node.items:
            walk(item.value, (*path, item.key) if node.kind == "object" else (*path, "[]"))

    document = parse(text)
    for comment in document.comments:
        if _MARKER.match(comment.text):
            raise ValueError(f"line {line_of(text, comment.start)}: a '{MARK}' marker outside the policy's object")
    walk(document.root, ())


# -- writing ----------------------------------------------------------------------------------
def _newline(text):
    """The file's line ending: CRLF when it has one, else LF."""
    return "\r\n" if "\r\n" in text else "\n"


def _unit(text, document):
    """One level of indentation as the file writes it (two spaces when it cannot tell)."""
    for item in document.root.items:
        if starts_line(text, item.start):
            return indent_of(text, item.start) or "  "
    return "  "


def _dump(value, indent, unit, head=""):
    """Lines of VALUE (after HEAD, a key) at INDENT: on one line when it fits, else one entry a line."""
    one = head + json.dumps(value, separators=(", ", ": "))
    if len((indent + one).expandtabs(4)) < _WIDTH or not value or not isinstance(value, (dict, list)):
        return [indent + one]
    keyed = isinstance(value, dict)
    lines = [indent + head + ("{" if keyed else "[")]
    for key, entry in value.items() if keyed else ((None, entry) for entry in value):
        inner = _dump(entry, indent + unit, unit, f"{json.dumps(key)}: " if keyed else "")
        lines += [*inner[:-1], inner[-1] + ","]
    return [*lines, indent + ("}" if keyed else "]")]


def _render(entries, kind, indent, unit):
    """Lines of ENTRIES, each with a trailing comma (HuJSON, as Tailscale's own files are written)."""
    lines = []
    for entry in entries:
        key, value = entry if kind == "object" else (None, entry)
        inner = _dump(value, indent, unit, f"{json.dumps(key)}: " if kind == "object" else "")
        lines += [*inner[:-1], inner[-1] + ","]
    return lines


def _block_lines(entries, kind, indent, unit):
    return [indent + BEGIN, *_render(entries, kind, indent, unit), indent + END]


def _members(path, kind, entries, indent, unit):
    """Lines of the member PATH[0] holding, PATH[1:] further down, a block of ENTRIES."""
    if len(path) == 1:
        opening, closing = ("[", "]") if kind == "array" else ("{", "}")
        inner = _block_lines(entries, kind, indent + unit, unit)
    else:
        opening, closing = "{", "}"
        inner = _members(path[1:], kind, entries, indent + unit, unit)
    return [f"{indent}{json.dumps(path[0])}: {opening}", *inner, f"{indent}{closing},"]


def _comma_after_last(node):
    """The edit that puts a comma after NODE's last entry when it has none."""
    last = node.items[-1] if node.items else None
    return [(last.value.end, last.value.end, ",")] if last is not None and last.comma is None else []


def _append(text, node, lines):
    """TEXT with LINES added at the end of the container NODE (before its closing bracket)."""
    closing, nl = node.end - 1, _newline(text)
    edits = _comma_after_last(node)
    if starts_line(text, closing):
        at = line_start(text, closing)
        edits.append((at, at, "".join(line + nl for line in lines)))
    else:
        edits.append((closing, closing, nl + "".join(line + nl for line in lines) + indent_of(text, node.start)))
    return splice(text, edits)


def _inner_indent(text, node, unit):
    """The indentation of NODE's entries: its first entry's when that starts a line, else one level more."""
    if node.items and starts_line(text, node.items[0].start):
        return indent_of(text, node.items[0].start)
    return indent_of(text, node.start) + unit


def _remove(text, item):
    """TEXT without ITEM: its whole line(s) when it has them to itself, else the entry, its comma and spaces."""
    start, end = item.start, item.end
    rest = text[end : (text.find("\n", end) + 1 or len(text))]
    if starts_line(text, start) and (not rest.strip() or rest.lstrip().startswith("//")):
        return text[: line_start(text, start)] + text[end + len(rest) :]
    while end < len(text) and text[end] in " \t":
        end += 1
    return text[:start] + text[end:]


def _region(text, begin, end):
    """(start, end) of a block: its markers' whole lines when they have them to themselves."""
    start = line_start(text, begin.start) if starts_line(text, begin.start) else begin.start
    stop = end.end + 1 if text[end.end : end.end + 1] == "\n" else end.end
    return start, stop


def set_block(text, path, kind, entries, removed, adopt):
    """TEXT with the block of the container at PATH holding ENTRIES (key, value pairs for an object).

    ADOPT(item) says whether an entry outside the block is to go (its place is the block's); the entries that
    leave the file are added to REMOVED[the path's name]."""
    before, found, inside = [], None, []
    while True:
        document = parse(text) if text else None
        node = _node(document, path, kind) if document else None
        if node is None:
            break
        found = _block(text, node, path)
        inside = found[2] if found else []
        outside = [item for item in node.items if item not in inside and adopt(item)]
        if not outside:
            break
        before.append(_entry(outside[0], kind))
        text = _remove(text, outside[0])
    gone = [entry for entry in before + [_entry(item, kind) for item in inside] if entry not in entries]
    if gone:
        name = _where(path)
        removed[name] = removed.get(name, []) + [dict([e]) if kind == "object" else e for e in gone]
    if node is None:
        if not entries:
            return text
        return _create(text, document, path, kind, entries)
    unit = _unit(text, document)
    if found is None:
        if not entries:
            return text
        return _append(text, node, _block_lines(entries, kind, _inner_indent(text, node, unit), unit))
    begin, end, inside = found
    if [_entry(item, kind) for item in inside] == list(entries):
        return text
    start, stop = _region(text, begin, end)
    if not entries:
        return splice(text, [(start, stop, "")])
    lines = _block_lines(entries, kind, indent_of(text, begin.start), unit)
    nl = _newline(text)
    replacement = nl.join(lines) + (nl if stop > end.end else "")
    if start == begin.start:  # the block shares its first line with something else
        replacement = replacement.lstrip(" \t")
    edits = [(start, stop, replacement)]
    ahead = [item for item in node.items if item.value.end <= begin.start]
    if ahead and ahead[-1].comma is None:
        edits.append((ahead[-1].value.end, ahead[-1].value.end, ","))
    return splice(text, edits)


def _create(text, document, path, kind, entries):
    """TEXT with the missing containers of PATH created, holding a block of ENTRIES."""
    if not text.strip():
        return "{\n" + "\n".join(_members(path, kind, entries, "  ", "  ")) + "\n}\n"
    unit = _unit(text, document)
    depth = 0
    parent = document.root
    while parent.get(path[depth]) is not None:
        parent = parent.get(path[depth]).value
        depth += 1
    indent = _inner_indent(text, parent, unit)
    return _append(text, parent, _members(path[depth:], kind, entries, indent, unit))


# -- the merge --------------------------------------------------------------------------------
def _managed(path):
    """Whether the collection may have a block in the container at PATH."""
    if len(path) == 1:
        return True
    return path[0] == "autoApprovers" and (
        path[1:] in (("exitNode",), ("routes",)) or (len(path) == 3 and path[1] == "routes")
    )


def _adopt_equal(entries):
    return lambda item: item.value.value in entries


def _adopt_keys(keys):
    return lambda item: item.key in keys


def merge_text(text, part):
    """(TEXT with the collection's PART in its blocks, the entries that left the file per section).

    PART is the collection's part (tailnet.llm.tailscale_policy filter). ValueError when TEXT is no HuJSON
    object, or its markers are out of place."""
    namespace = list(part.get("tagOwners") or {})
    if not namespace:
        raise ValueError("the collection's part names no tags in tagOwners: it would own nothing")
    if not text.strip():
        text = ""
    else:
        document = parse(text)
        if document.root.kind != "object":
            raise ValueError(f"the policy file is a JSON {document.root.kind}, not an object")
        check_markers(text, _managed)
    removed = {}
    current = parse(text).root if text else None
    # Sections that had a block are visited even when the part no longer has them: their block goes.
    marked = [item.key for item in (current.items if current else []) if _markers(item.value)]
    for section in dict.fromkeys([*part, *marked]):
        if section == "autoApprovers":
            continue
        value = part.get(section)
        if isinstance(value, dict) or (value is None and current.get(section).value.kind == "object"):
            pairs = list((value or {}).items())
            keys = namespace if section == "tagOwners" else [pair[0] for pair in pairs]
            text = set_block(text, (section,), "object", pairs, removed, _adopt_keys(keys))
        else:
            entries = list(value or [])
            text = set_block(text, (section,), "array", entries, removed, _adopt_equal(entries))
    return _merge_auto_approvers(text, part.get("autoApprovers") or {}, removed), removed


def _merge_auto_approvers(text, ours, removed):
    exit_node = list(ours.get("exitNode") or [])
    text = set_block(text, ("autoApprovers", "exitNode"), "array", exit_node, removed, _adopt_equal(exit_node))
    routes = dict(ours.get("routes") or {})
    # The routes the operator lists outside the collection's block keep their entry; the collection's approvers
    # of such a route go in a block inside its list.
    node = _node(parse(text), ("autoApprovers", "routes"), "object") if text else None
    found = _block(text, node, ("autoApprovers", "routes")) if node is not None else None
    inside = found[2] if found else []
    operators = [item.key for item in (node.items if node is not None else []) if item not in inside]
    for route in dict.fromkeys(operators):
        approvers = list(routes.pop(route, []))
        path = ("autoApprovers", "routes", route)
        text = set_block(text, path, "array", approvers, removed, _adopt_equal(approvers))
    pairs = list(routes.items())
    return set_block(text, ("autoApprovers", "routes"), "object", pairs, removed, _adopt_keys(list(routes)))


# -- a new tailnet ----------------------------------------------------------------------------
def allow_all_rules(text):
    """[(where, line, the rule's text on one line)] of the rules that let everyone reach everything: an ACL from
    `*` to `*:*`, a grant from `*` to `*` (a new tailnet's default policy has the first)."""
    document = parse(text)
    found = []
    for section in ("acls", "grants"):
        item = document.root.get(section) if document.root.kind == "object" else None
        if item is None or item.value.kind != "array":
            continue
        for index, rule in enumerate(item.value.items):
            value = rule.value.value
            if not isinstance(value, dict):
                continue
            sources = value.get("src") or value.get("users") or []
            if section == "acls":
                everything = value.get("action") == "accept" and "*:*" in (value.get("dst") or value.get("ports") or [])
            else:
                everything = "*" in (value.get("dst") or []) and set(value.get("ip") or ["*"]) & {"*", "tcp:*"}
            if "*" in sources and everything:
                rule_text = " ".join(text[rule.value.start : rule.value.end].split())
                found.append((f"{section}[{index}]", line_of(text, rule.value.start), rule_text))
    return found
