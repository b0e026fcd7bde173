# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Syncing the callers' budgets into LiteLLM's database through a gateway's management API (LiteLLM 1.106.2).

Internal to this collection (used by the tailnet.llm._litellm_budgets module): the interfaces may change in any
release.

Three kinds of entity, as plugins/plugin_utils/budgets.py derives them from the inventory:
- users (client hosts): GET /user/list (paged), POST /user/new (without a key: auto_create_key false),
  /user/update, /user/delete; marked with metadata {"managed_by": "tailnet.llm"};
- customers (users of clients, LiteLLM's end users): GET /customer/list, POST /customer/new, /customer/update,
  /customer/delete; the customer table has no metadata, so the mark is the alias "managed by tailnet.llm";
- teams: GET /team/list, POST /team/new, /team/update, /team/delete; marked like users.
Only marked entities are updated or deleted. An entity of the inventory that exists unmarked (someone else's)
fails the sync before any write. Spend is never written: only max_budget and budget_duration.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from urllib.error import HTTPError, URLError

from ansible.module_utils.urls import open_url

MARK_KEY, MARK = "managed_by", "tailnet.llm"
CUSTOMER_ALIAS = "managed by tailnet.llm"
FIELDS = ("max_budget", "budget_duration")
# kind -> (its id field, list path, new/update/delete paths, the delete body's list field)
KINDS = {
    "users": ("user_id", "/user/new", "/user/update", "/user/delete", "user_ids"),
    "customers": ("user_id", "/customer/new", "/customer/update", "/customer/delete", "user_ids"),
    "teams": ("team_id", "/team/new", "/team/update", "/team/delete", "team_ids"),
}
PAGE_SIZE = 100  # /user/list's largest page
WRITERS = 4  # requests in flight while writing (benchmarks/budgets_bench.py, 100 clients: 21 s one by one, 16-20 s)


class BudgetsError(Exception):
    """What went wrong: one sentence naming the endpoint and LiteLLM's answer; never the master key."""


class Gateway:
    """A gateway's management API, called with the master key (sent in a header only)."""

    def __init__(self, url, master_key, timeout=30, validate_certs=True):
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {master_key}", "Content-Type": "application/json"}
        self.timeout = timeout
        self.validate_certs = validate_certs

    def call(self, method, path, body=None):
        data = json.dumps(body) if body is not None else None
        try:
            response = open_url(
                self.url + path,
                data=data,
                method=method,
                headers=self._headers,
                timeout=self.timeout,
                validate_certs=self.validate_certs,
            )
            return json.loads(response.read() or b"null")
        except HTTPError as e:
            detail = e.read()[:500].decode(errors="replace")
            raise BudgetsError(f"{method} {path}: LiteLLM answered {e.code}: {detail}") from None
        except (URLError, OSError, ValueError) as e:
            raise BudgetsError(f"{method} {path}: {e}") from None


def _managed(kind, entity):
    if kind == "customers":
        return entity.get("alias") == CUSTOMER_ALIAS
    return (entity.get("metadata") or {}).get(MARK_KEY) == MARK


def _limits(kind, entity):
    """An entity's max_budget and budget_duration as LiteLLM lists it (a customer's are in its budget row)."""
    source = (entity.get("litellm_budget_table") or {}) if kind == "customers" else entity
    amount = source.get("max_budget")
    return {"max_budget": None if amount is None else float(amount), "budget_duration": source.get("budget_duration")}


def read(gateway):
    """kind -> id -> (managed, limits) of every user, customer and team the gateway's database holds."""
    users, page = [], 1
    while True:
        answer = gateway.call("GET", f"/user/list?page={page}&page_size={PAGE_SIZE}")
        users += answer.get("users") or []
        if page >= (answer.get("total_pages") or 1):
            break
        page += 1
    listed = {"users": users, "customers": gateway.call("GET", "/customer/list") or []}
    listed["teams"] = gateway.call("GET", "/team/list") or []
    return {
        kind: {entity[KINDS[kind][0]]: (_managed(kind, entity), _limits(kind, entity)) for entity in entities}
        for kind, entities in listed.items()
    }


def plan(current, desired):
    """What to write: kind -> {"create": [entity], "update": [entity], "delete": [id]}, from CURRENT (read) and
    DESIRED (kind -> [{ID_FIELD, max_budget, budget_duration}]). Raises BudgetsError when an entity of DESIRED exists
    and is not the collection's (never touched), naming it."""
    actions = {}
    for kind, (id_field, *_paths) in KINDS.items():
        have = current.get(kind, {})
        want = {entity[id_field]: entity for entity in desired.get(kind) or []}
        foreign = sorted(name for name in want if name in have and not have[name][0])
        if foreign:
            raise BudgetsError(
                f"LiteLLM's {kind} {', '.join(foreign)} exist and are not managed by tailnet.llm: rename the caller "
                "or team in the inventory, or delete them in LiteLLM; nothing was changed"
            )
        actions[kind] = {
            "create": [entity for name, entity in want.items() if name not in have],
            "update": [
                entity
                for name, entity in want.items()
                if name in have and have[name][1] != {field: entity.get(field) for field in FIELDS}
            ],
            "delete": sorted(name for name, (managed, _limits) in have.items() if managed and name not in want),
        }
    return actions


def _body(kind, entity, new):
    id_field = KINDS[kind][0]
    body = {id_field: entity[id_field], **{field: entity.get(field) for field in FIELDS}}
    if kind == "customers":
        if new:
            body["alias"] = CUSTOMER_ALIAS
            # /customer/new takes a budget's fields only when one is set (None would create an empty budget row).
            body = {k: v for k, v in body.items() if v is not None}
    elif new:
        body["metadata"] = {MARK_KEY: MARK}
        if kind == "users":
            body["auto_create_key"] = False  # the auth hook knows the callers' keys; LiteLLM needs none
    return body


def apply(gateway, actions):
    """Write ACTIONS (plan): creations and updates, WRITERS at a time (each one entity, independent of the others),
    then deletions, one request per kind."""
    writes = [
        (path, _body(kind, entity, step == "create"))
        for kind, (_id, new, update, _delete, _field) in KINDS.items()
        for step, path in (("create", new), ("update", update))
        for entity in actions[kind][step]
    ]
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        for done in [pool.submit(gateway.call, "POST", path, body) for path, body in writes]:
            done.result()  # the first failure fails the sync
    for kind, (_id, _new, _update, delete, delete_field) in KINDS.items():
        if actions[kind]["delete"]:
            gateway.call("POST", delete, {delete_field: actions[kind]["delete"]})


def diff(current, actions):
    """Ansible's diff: before and after, kind -> id -> limits, of the entities that change."""
    before, after = {}, {}
    for kind, todo in actions.items():
        id_field = KINDS[kind][0]
        for entity in todo["create"] + todo["update"]:
            name = entity[id_field]
            if name in current.get(kind, {}):
                before.setdefault(kind, {})[name] = current[kind][name][1]
            after.setdefault(kind, {})[name] = {field: entity.get(field) for field in FIELDS}
        for name in todo["delete"]:
            before.setdefault(kind, {})[name] = current[kind][name][1]
    return {"before": before, "after": after}


def sync(gateway, desired, check_mode=False):
    """Make the gateway's database hold DESIRED (kind -> entities); the module's result."""
    current = read(gateway)
    actions = plan(current, desired)
    changed = any(todo[step] for todo in actions.values() for step in todo)
    if changed and not check_mode:
        apply(gateway, actions)
    summary = {
        kind: {step: [e if isinstance(e, str) else e[KINDS[kind][0]] for e in items] for step, items in todo.items()}
        for kind, todo in actions.items()
    }
    return {"changed": changed, "actions": summary, "diff": diff(current, actions)}
