# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HuJSON, the tailnet policy file's format (JSON with // and /* */ comments and trailing commas), parsed so that
the text can be edited in place.

Internal to this collection (used by module_utils/tailscale_policy_merge.py): the interfaces may change in any
release.

`parse` gives a tree of `Node`s (object, array, scalar) where every value, key, comma and comment knows where it
is in the text, so an edit splices the text at those places and leaves every other byte alone: comments, blank
lines, indentation, trailing commas and the order of entries stay as written. Standard library only (a module
runs on the controller with nothing else installed); strings and numbers are read by Python's own JSON decoder.
"""

from __future__ import annotations

import json
import re

_DECODER = json.JSONDecoder()
_SPACE = " \t\r\n\ufeff"


class HuJSONError(ValueError):
    """Text that is not HuJSON; the message names the line and column."""


class Comment:
    """A // or /* */ comment: its text and where it is."""

    def __init__(self, start, end, text):
        self.start, self.end, self.text = start, end, text


class Item:
    """An entry of an object (with its key) or of an array: where it starts (its key, or its value), its value,
    and where its comma is (None when it has none)."""

    def __init__(self, key, start, value):
        self.key, self.start, self.value, self.comma = key, start, value, None

    @property
    def end(self):
        """Where the entry ends, its comma included."""
        return self.value.end if self.comma is None else self.comma + 1


class Node:
    """A value: `kind` is object, array or scalar; a container has `items` and the `comments` directly inside it
    (not those of the values nested in it)."""

    def __init__(self, kind, start):
        self.kind, self.start, self.end = kind, start, start
        self.items, self.comments, self.scalar = [], [], None

    @property
    def value(self):
        """The Python value (dict, list, str, number, bool or None)."""
        if self.kind == "object":
            return {item.key: item.value.value for item in self.items}
        if self.kind == "array":
            return [item.value.value for item in self.items]
        return self.scalar

    def get(self, key):
        """The last entry named KEY of an object (as a JSON decoder keeps the last), or None."""
        found = [item for item in self.items if item.key == key]
        return found[-1] if found else None


class Document:
    """A parsed text: its `root` value and the comments around it."""

    def __init__(self, text, root, comments):
        self.text, self.root, self.comments = text, root, comments


def line_of(text, position):
    return text.count("\n", 0, position) + 1


def line_start(text, position):
    return text.rfind("\n", 0, position) + 1


def indent_of(text, position):
    """The whitespace that starts the line POSITION is on."""
    start = line_start(text, position)
    return re.match(r"[ \t]*", text[start:]).group(0)


def starts_line(text, position):
    """Whether only whitespace comes before POSITION on its line."""
    return not text[line_start(text, position) : position].strip()


class _Parser:
    def __init__(self, text):
        self.text, self.i = text, 0

    def fail(self, what):
        line = line_of(self.text, self.i)
        column = self.i - line_start(self.text, self.i) + 1
        raise HuJSONError(f"line {line}, column {column}: {what}")

    def peek(self):
        return self.text[self.i] if self.i < len(self.text) else ""

    def skip(self, comments):
        """Skip whitespace and comments, keeping the comments in COMMENTS."""
        text, n = self.text, len(self.text)
        while self.i < n:
            if text[self.i] in _SPACE:
                self.i += 1
            elif text.startswith("//", self.i):
                end = text.find("\n", self.i)
                end = n if end < 0 else end
                comments.append(Comment(self.i, end, text[self.i : end].rstrip("\r")))
                self.i = end
            elif text.startswith("/*", self.i):
                end = text.find("*/", self.i + 2)
                if end < 0:
                    self.fail("a /* comment is never closed with */")
                comments.append(Comment(self.i, end + 2, text[self.i : end + 2]))
                self.i = end + 2
            else:
                return

    def value(self):
        c = self.peek()
        if c == "{":
            return self.container("object", "}")
        if c == "[":
            return self.container("array", "]")
        if not c or c in "]},:/":
            self.fail("a value is expected here")
        node = Node("scalar", self.i)
        try:
            node.scalar, self.i = _DECODER.raw_decode(self.text, self.i)
        except ValueError:
            self.fail("a value (a string in double quotes, a number, true, false or null) is expected here")
        node.end = self.i
        return node

    def container(self, kind, closing):
        node = Node(kind, self.i)
        self.i += 1
        while True:
            self.skip(node.comments)
            if self.peek() == closing:
                self.i += 1
                node.end = self.i
                return node
            key, start = None, self.i
            if kind == "object":
                if self.peek() != '"':
                    self.fail(f'a key in double quotes or "{closing}" is expected here')
                key = self.value().scalar
                self.skip(node.comments)
                if self.peek() != ":":
                    self.fail(f'":" is expected after the key "{key}"')
                self.i += 1
                self.skip(node.comments)
            item = Item(key, start, self.value())
            self.skip(node.comments)
            if self.peek() == ",":
                item.comma = self.i
                self.i += 1
            elif self.peek() != closing:
                self.fail(f'"," or "{closing}" is expected here')
            node.items.append(item)


def parse(text):
    """The Document of TEXT; HuJSONError naming the line and column when TEXT is not HuJSON."""
    parser = _Parser(text)
    comments = []
    parser.skip(comments)
    root = parser.value()
    parser.skip(comments)
    if parser.i < len(text):
        parser.fail("nothing but comments may follow the document")
    return Document(text, root, comments)


def loads(text):
    """The Python value of a HuJSON text."""
    return parse(text).root.value


def splice(text, edits):
    """TEXT with each (start, end, replacement) of EDITS applied; the edits must not overlap. Insertions at one
    place come out in the order of EDITS."""
    ordered = sorted(enumerate(edits), key=lambda pair: (pair[1][0], pair[0]), reverse=True)
    for _index, (start, end, replacement) in ordered:
        text = text[:start] + replacement + text[end:]
    return text
