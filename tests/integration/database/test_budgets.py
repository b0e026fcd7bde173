"""Budgets from the inventory, synced into the real LiteLLM's database and enforced by it, with the collection's hook.

LiteLLM (build/venvs/litellm, the release the gateways run) runs in database mode against a real PostgreSQL
(conftest.py) with config.yaml, clients.json and tailnet_auth.py rendered by the litellm role's own templates. The
hook says who each caller is (by its key's hash) and whom LiteLLM charges: the client host as a LiteLLM user, a user
of a client as the host's user and its own customer, a team member as its team too. The budgets are synced by the
litellm role's `budgets` entry point (the module tailnet.llm._litellm_budgets), run by ansible-playbook against an
inventory, as a deploy runs it. The local model's tokens are priced (1 USD each; an answer of 1 prompt and
1 completion token costs 2 USD) so that spend moves.

Shown: each kind of budget refuses its caller once spent (HTTP 422, error type budget_exceeded) while others go on;
spend is recorded per user, customer and team; a second sync changes nothing; check mode writes nothing; a caller
that leaves the inventory is deleted from the database, and an entity the collection did not create is not touched.
"""

import http.client
import json
import secrets
import sys
import time

import helpers
import pytest
import yaml

pytestmark = pytest.mark.slow

MASTER = "sk-budgets-master-" + secrets.token_hex(8)
KEYS = {name: f"sk-{name}-" + secrets.token_hex(8) for name in ("motoko", "alice", "batou", "togusa", "saito")}
MODEL = "lab/priced"
COST_PER_ANSWER = 2.0
BUDGET_EXCEEDED = 422  # what LiteLLM 1.106.2 answers a caller over a budget (litellm.budget_exceeded_status_code)
BOUND = 60
PAUSE = 1.5  # seconds
DB = "litellm_budgets"


def _teams(clients):
    """llm_teams: research, of batou and togusa (those of CLIENTS), 5 USD a month."""
    members = [name for name in ("batou", "togusa") if name in clients]
    return [{"name": "research", "members": members, "budget": {"max_usd": 5, "period": "1mo"}}]


def gateway_inventory(port, master, clients, teams, database_host="127.0.0.1"):
    """An inventory: the gateway `gw` at PORT (local connection, MASTER its master key), the client hosts CLIENTS (host
    -> its variables) and the teams TEAMS (llm_teams)."""
    gateway = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "litellm_port": port,
        "litellm_database_host": database_host,
        "litellm_env_secrets": {"LITELLM_MASTER_KEY": master},
    }
    return {
        "all": {
            "vars": {"llm_teams": teams},
            "children": {"llm_gateways": {"hosts": {"gw": gateway}}, "llm_clients": {"hosts": clients}},
        }
    }


CLIENTS = {
    "motoko": {
        "llm_client_key": KEYS["motoko"],
        "llm_client_budget": {"max_usd": 5.0, "period": "30d"},
        "llm_client_users": [{"name": "alice", "budget": {"max_usd": 3.0, "period": "1mo"}}],
        "llm_client_user_keys": {"alice": KEYS["alice"]},
    },
    "batou": {"llm_client_key": KEYS["batou"]},
    "togusa": {"llm_client_key": KEYS["togusa"]},
    "saito": {"llm_client_key": KEYS["saito"]},  # no budget: spend recorded, never refused
}


def _request(port, method, path, key=MASTER, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        payload = json.dumps(body) if body is not None else None
        conn.request(method, path, payload, {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def _chat(port, who):
    """One answer of MODEL for WHO, after a pause: LiteLLM reserves a request's estimated cost against the budgets until
    its spend is counted, just after the answer; callers here ask one after another."""
    time.sleep(PAUSE)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 1}
    return _request(port, "POST", "/v1/chat/completions", KEYS[who], body)


def _until(condition, what):
    deadline = time.monotonic() + BOUND
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {BOUND} s")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def gateway(callers_gateway, tmp_path_factory):
    """(port, sync(clients, *options) -> (returncode, result of the sync task, output, seconds)) of a running gateway."""
    workdir = tmp_path_factory.mktemp("budgets")
    with callers_gateway(workdir, CLIENTS, _teams(CLIENTS), MASTER, database=DB) as port:
        yield (
            port,
            lambda clients, *options: run_sync(
                workdir, gateway_inventory(port, MASTER, clients, _teams(clients)), *options
            ),
        )


def _write(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


def run_sync(workdir, inventory, *options):
    """The litellm role's `budgets` entry point on the inventory's gateway, by ansible-playbook (OPTIONS: -C,
    --diff, -vvv): (return code, the sync task's result, the whole output)."""
    playbook = _write(
        workdir / "budgets.yml",
        [{"hosts": "llm_gateways", "gather_facts": False, "tasks": [
            {"ansible.builtin.include_role": {"name": "tailnet.llm.litellm", "tasks_from": "budgets"}}
        ]}],
    )  # fmt: skip
    run = helpers.ansible_playbook("-i", _write(workdir / "hosts.yml", inventory), playbook, *options, timeout=300)
    return run.returncode, run.result("gw", "Sync the budgets into the gateway's database"), run.output, run.seconds


def _rows(postgres, sql):
    return postgres.query(DB, sql)


def _entities(postgres):
    return {
        "users": _rows(
            postgres,
            """SELECT user_id, max_budget, budget_duration, metadata->>'managed_by' FROM "LiteLLM_UserTable"
               ORDER BY user_id""",
        ),
        "customers": _rows(
            postgres,
            """SELECT e.user_id, b.max_budget, b.budget_duration, e.alias FROM "LiteLLM_EndUserTable" e
               LEFT JOIN "LiteLLM_BudgetTable" b ON b.budget_id = e.budget_id ORDER BY e.user_id""",
        ),
        "teams": _rows(
            postgres,
            """SELECT team_id, max_budget, budget_duration, metadata->>'managed_by' FROM "LiteLLM_TeamTable"
               ORDER BY team_id""",
        ),
    }


def test_the_sync_writes_the_budgets_and_a_second_run_changes_nothing(gateway, postgres):
    port, sync = gateway
    status, _ = _request(port, "POST", "/user/new", body={"user_id": "operator-own", "auto_create_key": False})
    assert status == 200  # an entity the collection did not create

    code, result, output, seconds = sync(CLIENTS, "--diff")
    print(f"first sync: {seconds:.1f} s")
    assert code == 0, output[-3000:]
    assert result["changed"] is True
    assert sorted(result["actions"]["users"]["create"]) == ["batou", "motoko", "saito", "togusa"]
    assert result["actions"]["customers"]["create"] == ["motoko/alice"]
    assert result["actions"]["teams"]["create"] == ["research"]
    assert result["diff"]["after"]["users"]["motoko"] == {"max_budget": 5.0, "budget_duration": "30d"}
    assert MASTER not in output
    assert _entities(postgres) == {
        "users": [
            ["batou", "", "", "tailnet.llm"],
            ["motoko", "5", "30d", "tailnet.llm"],
            ["operator-own", "", "", ""],
            ["saito", "", "", "tailnet.llm"],
            ["togusa", "", "", "tailnet.llm"],
        ],
        "customers": [["motoko/alice", "3", "1mo", "managed by tailnet.llm"]],
        "teams": [["research", "5", "1mo", "tailnet.llm"]],
    }
    # No virtual key for the users: the hook knows the callers' keys.
    assert _rows(postgres, 'SELECT count(*) FROM "LiteLLM_VerificationToken"') == [["0"]]

    code, result, output, seconds = sync(CLIENTS)
    print(f"second sync: {seconds:.1f} s")
    assert code == 0, output[-3000:]
    assert result["changed"] is False


def test_each_budget_refuses_its_caller_once_spent_and_the_spend_is_recorded(gateway, postgres):
    port, _ = gateway
    # alice (customer budget 3): 2 answers (4 USD), then refused; her spend counts toward motoko's (5).
    assert [_chat(port, "alice")[0] for _ in range(2)] == [200, 200]
    status, body = _chat(port, "alice")
    print(f"a customer over budget: {status} {body}")
    assert status == BUDGET_EXCEEDED
    assert json.loads(body)["error"]["type"] == "budget_exceeded"
    assert "End User=motoko/alice over budget" in body
    # motoko (user budget 5): 4 USD spent by alice, one answer more (6), then refused.
    assert _chat(port, "motoko")[0] == 200
    status, body = _chat(port, "motoko")
    print(f"a client over budget: {status} {body}")
    assert (status, json.loads(body)["error"]["type"]) == (BUDGET_EXCEEDED, "budget_exceeded")
    assert "User=motoko over budget" in body
    # research (team budget 5): batou and togusa spend it together.
    assert [_chat(port, who)[0] for who in ("batou", "togusa", "batou")] == [200, 200, 200]
    status, body = _chat(port, "togusa")
    print(f"a team over budget: {status} {body}")
    assert (status, json.loads(body)["error"]["type"]) == (BUDGET_EXCEEDED, "budget_exceeded")
    assert "Team=research" in body
    # saito has no budget: never refused, its spend recorded.
    assert [_chat(port, "saito")[0] for _ in range(4)] == [200] * 4

    expected = {
        "users": {"motoko": 6.0, "batou": 4.0, "togusa": 2.0, "saito": 8.0},
        "customers": {"motoko/alice": 4.0},
        "teams": {"research": 6.0},
    }
    tables = {"users": "LiteLLM_UserTable", "customers": "LiteLLM_EndUserTable", "teams": "LiteLLM_TeamTable"}

    def recorded():
        spend = {
            kind: {
                name: float(value)
                for name, value in _rows(postgres, f'SELECT {"team_id" if kind == "teams" else "user_id"}, spend FROM "{table}"')
                if name in expected[kind]
            }
            for kind, table in tables.items()
        }  # fmt: skip
        return spend if spend == expected else None

    _until(recorded, f"spend {expected} in the database")
    logs = _rows(postgres, 'SELECT "user", end_user, team_id, sum(spend) FROM "LiteLLM_SpendLogs" GROUP BY 1, 2, 3')
    assert sorted(logs) == sorted(
        [
            ["motoko", "motoko/alice", "", "4"],
            ["motoko", "", "", "2"],
            ["batou", "", "research", "4"],
            ["togusa", "", "research", "2"],
            ["saito", "", "", "8"],
        ]
    )


def test_check_mode_reports_and_writes_nothing(gateway, postgres):
    _, sync = gateway
    before = _entities(postgres)
    changed = {**CLIENTS, "motoko": {**CLIENTS["motoko"], "llm_client_budget": {"max_usd": 50, "period": "1mo"}}}
    del changed["batou"]
    code, result, output, _ = sync(changed, "--check", "--diff")
    assert code == 0, output[-3000:]
    assert result["changed"] is True
    assert result["actions"]["users"] == {"create": [], "update": ["motoko"], "delete": ["batou"]}
    assert result["diff"]["before"]["users"]["motoko"] == {"max_budget": 5.0, "budget_duration": "30d"}
    assert result["diff"]["after"]["users"]["motoko"] == {"max_budget": 50.0, "budget_duration": "1mo"}
    assert _entities(postgres) == before


def test_what_leaves_the_inventory_is_deleted_and_a_raised_budget_lets_the_caller_in_again(gateway, postgres):
    port, sync = gateway
    changed = {**CLIENTS, "motoko": {**CLIENTS["motoko"], "llm_client_budget": {"max_usd": 50, "period": "1mo"}}}
    changed["motoko"]["llm_client_users"] = [{"name": "alice", "budget": {"max_usd": 30.0, "period": "1mo"}}]
    del changed["batou"]
    code, result, output, _ = sync(changed, "-vvv", "--diff")
    assert code == 0, output[-3000:]
    assert MASTER not in output
    assert result["actions"]["users"] == {"create": [], "update": ["motoko"], "delete": ["batou"]}
    assert result["actions"]["customers"]["update"] == ["motoko/alice"]
    entities = _entities(postgres)
    assert [row[0] for row in entities["users"]] == ["motoko", "operator-own", "saito", "togusa"]
    assert entities["customers"] == [["motoko/alice", "30", "1mo", "managed by tailnet.llm"]]
    assert _chat(port, "alice")[0] == 200
    assert _chat(port, "motoko")[0] == 200

    code, result, output, _ = sync(changed)
    assert (code, result["changed"]) == (0, False), output[-3000:]
