#!/usr/bin/env python3
"""Syncing 100 clients with budgets into LiteLLM's database: the first run, and a second that must change nothing.

The real LiteLLM (build/venvs/litellm) in database mode against a throw-away PostgreSQL, with Prisma's query engine
adapter, exactly as tests/integration/database sets them up (its conftest.py's fixtures, loaded here as a pytest
plugin). An inventory of 100 client hosts, each with a budget, 2 users of its own (one with a budget) and 10 teams of
10 hosts: 100 LiteLLM users, 200 customers, 10 teams. The litellm role's `budgets` entry point runs them in, by
ansible-playbook, as a deploy does; the times include ansible-playbook's own start (about 3 s here).

Goal (issue 19): under 30 s for the first run; under 10 s for the second, which changes nothing.

    PYTHONPATH=tests:tests/servers:build/collections .venv/bin/python benchmarks/budgets_bench.py
"""

import importlib.util
import sys

import pytest
from helpers import REPO

CLIENTS = 100
TEAMS = 10
GOALS = {"first": 30.0, "second": 10.0}


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DATABASE = REPO / "tests" / "integration" / "database"
conftest = _load("budgets_bench_conftest", DATABASE / "conftest.py")
budgets_test = _load("budgets_bench_test_budgets", DATABASE / "test_budgets.py")


def _clients():
    return {
        f"client-{i:03d}": {
            "llm_client_key": f"sk-bench-{i}",
            "llm_client_budget": {"max_usd": 5.0 + i, "period": "30d"},
            "llm_client_users": [{"name": "alice", "budget": {"max_usd": 1.0, "period": "1mo"}}, {"name": "bob"}],
            "llm_client_user_keys": {"alice": f"sk-bench-{i}-alice", "bob": f"sk-bench-{i}-bob"},
        }
        for i in range(CLIENTS)
    }


def _teams(clients):
    names = sorted(clients)
    size = len(names) // TEAMS
    return [
        {"name": f"team-{t}", "members": names[t * size : (t + 1) * size], "budget": {"max_usd": 100, "period": "1mo"}}
        for t in range(TEAMS)
    ]


def test_sync_a_hundred_clients(callers_gateway, tmp_path):
    clients, master = _clients(), budgets_test.MASTER
    teams = _teams(clients)
    with callers_gateway(tmp_path, clients, teams, master, database="litellm_bench") as port:
        inventory = budgets_test.gateway_inventory(port, master, clients, teams)
        seconds = {}
        for run in ("first", "second"):
            code, result, output, seconds[run] = budgets_test.run_sync(tmp_path, inventory)
            assert code == 0, output[-3000:]
            print(f"\n{run} run: {seconds[run]:.1f} s (goal < {GOALS[run]:.0f} s), changed={result['changed']}")
            if run == "first":
                created = {kind: len(todo["create"]) for kind, todo in result["actions"].items()}
                print(f"created: {created}")
                assert created == {"users": CLIENTS, "customers": 2 * CLIENTS, "teams": TEAMS}
        changed_nothing = result["changed"] is False
        print(f"second run changed nothing: {changed_nothing}")
        assert changed_nothing
        for run, goal in GOALS.items():
            assert seconds[run] < goal, f"{run} run took {seconds[run]:.1f} s, goal {goal} s"


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-s", "-p", "no:cacheprovider", f"--rootdir={REPO}"], plugins=[conftest]))
