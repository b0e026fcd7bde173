# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merging the collection's part into a tailnet policy file, keeping what the operator wrote by hand.

Internal to this collection (used by the tailnet.llm.tailscale_policy module): the interfaces may change in any
release.

Where the collection's part ends: the tags named in the part's `tagOwners` are the collection's namespace.
- `tagOwners`: the entries of those tags are the collection's;
- `grants` and `acls`: a rule is the collection's when every one of its destinations is one of those tags (who
  may reach the collection's hosts is derived from the inventory); a rule with any other destination is the
  operator's;
- `tests`: a test is the collection's when every destination it checks is one of those tags;
- `autoApprovers`: those tags, wherever they approve a route or exit nodes, are the collection's; other approvers
  stay.
Everything else (groups, hosts, ssh, nodeAttrs, other rules and tests, any other section) is kept as it is, in its
order. The collection's rules take the place of the first rule of theirs found in the file (or go last), so the
file stays stable from one run to the next.
"""

from __future__ import annotations

import copy
import json

_LIST_SECTIONS = ("grants", "acls", "tests")


def hujson_to_json(text):
    """(standard JSON text, whether there were comments) of a HuJSON document (JSON with comments and trailing
    commas, as the policy file is written): comments are dropped, trailing commas removed, strings untouched."""
    out, i, n, had_comments = [], 0, len(text), False
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            had_comments = True
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            had_comments = True
            j = text.find("*/", i + 2)
            if j < 0:
                raise ValueError("unterminated /* comment")
            i = j + 2
        elif c in "]}":
            # A trailing comma: the last non-space character written is a comma.
            k = len(out) - 1
            while k >= 0 and out[k].isspace():
                k -= 1
            if k >= 0 and out[k] == ",":
                del out[k]
            out.append(c)
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out), had_comments


def parse_policy(text):
    """The policy file (HuJSON or JSON) as a dict, and whether it had comments; ValueError when it is none."""
    standard, had_comments = hujson_to_json(text)
    policy = json.loads(standard) if standard.strip() else {}
    if not isinstance(policy, dict):
        raise ValueError(f"the policy file is a JSON {type(policy).__name__}, not an object")
    return policy, had_comments


def _target(destination):
    """The target of a destination written TARGET:PORTS (acls' dst, tests' accept/deny)."""
    return destination.rsplit(":", 1)[0] if ":" in destination else destination


def _targets(entry, section):
    if section == "grants":
        return list(entry.get("dst") or [])
    if section == "acls":
        return [_target(d) for d in entry.get("dst") or entry.get("ports") or []]
    return [_target(d) for key in ("accept", "deny", "allow") for d in entry.get(key) or []]


def owned(entry, section, namespace):
    """Whether ENTRY of SECTION (grants, acls, tests) is the collection's: all its destinations are its tags."""
    targets = _targets(entry, section) if isinstance(entry, dict) else []
    return bool(targets) and all(target in namespace for target in targets)


def _merge_list(current, ours, section, namespace):
    kept, removed, first = [], [], None
    for entry in current:
        if owned(entry, section, namespace):
            first = len(kept) if first is None else first
            if entry not in ours:
                removed.append(entry)
        else:
            kept.append(entry)
    at = len(kept) if first is None else first
    return kept[:at] + list(ours) + kept[at:], removed


def _merge_tag_owners(current, ours):
    """The operator's tags as they are, the collection's (the keys of OURS) as the part says."""
    return {**{name: owners for name, owners in current.items() if name not in ours}, **ours}


def _merge_auto_approvers(current, ours, namespace):
    merged = copy.deepcopy(current)
    routes = {}
    for route, approvers in (current.get("routes") or {}).items():
        others = [a for a in approvers if a not in namespace]
        if others:
            routes[route] = others
    for route, approvers in (ours.get("routes") or {}).items():
        routes[route] = routes.get(route, []) + [a for a in approvers if a not in routes.get(route, [])]
    exit_node = [a for a in current.get("exitNode") or [] if a not in namespace]
    exit_node += [a for a in ours.get("exitNode") or [] if a not in exit_node]
    for key, value in (("routes", routes), ("exitNode", exit_node)):
        if value:
            merged[key] = value
        else:
            merged.pop(key, None)
    return merged


def merge(current, part):
    """(the policy file with the collection's PART in it, the entries of the collection's namespace that PART
    no longer has). CURRENT is not modified."""
    namespace = set(part.get("tagOwners") or {})
    if not namespace:
        raise ValueError("the collection's part names no tags in tagOwners: it would own nothing")
    merged = copy.deepcopy(current)
    removed = {}
    merged["tagOwners"] = _merge_tag_owners(current.get("tagOwners") or {}, part["tagOwners"])
    for section in _LIST_SECTIONS:
        entries, gone = _merge_list(current.get(section) or [], part.get(section) or [], section, namespace)
        if gone:
            removed[section] = gone
        if entries or section in current:
            merged[section] = entries
    approvers = _merge_auto_approvers(current.get("autoApprovers") or {}, part.get("autoApprovers") or {}, namespace)
    if approvers or "autoApprovers" in current:
        merged["autoApprovers"] = approvers
    return merged, removed
