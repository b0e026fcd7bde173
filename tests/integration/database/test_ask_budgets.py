"""The real `ask` against the real LiteLLM in database mode, with the collection's hook: a request refused for budget
is `ask`'s exit code 7 and one plain line; `ask --usage` shows the caller's own spend and budgets, read with its own
key; a caller's key reads nobody else's numbers; a gateway without a database says that it keeps no spend.

The gateway (conftest.callers_gateway) serves a model priced at 2 USD an answer; the budgets are synced by the litellm
role's `budgets` entry point (ansible-playbook), as in test_budgets.py.
"""

import http.client
import json
import secrets
import time
from urllib.parse import quote

import ask_process
import pytest
from test_budgets import gateway_inventory, run_sync

pytestmark = pytest.mark.slow

MASTER = "sk-ask-budgets-master-" + secrets.token_hex(8)
KEYS = {name: f"sk-{name}-" + secrets.token_hex(8) for name in ("motoko", "alice", "bob", "batou", "togusa", "saito")}
TEAMS = [{"name": "research", "members": ["batou", "togusa"], "budget": {"max_usd": 5, "period": "1mo"}}]
CLIENTS = {
    "motoko": {
        "llm_client_key": KEYS["motoko"],
        "llm_client_budget": {"max_usd": 5.0, "period": "30d"},
        "llm_client_users": [{"name": "alice", "budget": {"max_usd": 3.0, "period": "1mo"}}, {"name": "bob"}],
        "llm_client_user_keys": {"alice": KEYS["alice"], "bob": KEYS["bob"]},
    },
    "batou": {"llm_client_key": KEYS["batou"]},
    "togusa": {"llm_client_key": KEYS["togusa"]},
    "saito": {"llm_client_key": KEYS["saito"]},  # no budget: spend recorded, never refused
}
PAUSE = 1.5  # seconds between questions: LiteLLM counts an answer's spend just after it (test_budgets.py)
BOUND = 60


@pytest.fixture(scope="module")
def gateway(callers_gateway, tmp_path_factory):
    """The port of a gateway in database mode whose budgets are synced."""
    workdir = tmp_path_factory.mktemp("ask-budgets")
    with callers_gateway(workdir, CLIENTS, TEAMS, MASTER, database="litellm_ask_budgets") as port:
        code, _, output, _ = run_sync(workdir, gateway_inventory(port, MASTER, CLIENTS, TEAMS))
        assert code == 0, output[-3000:]
        yield port


def ask(port, who, *args, tmp_path):
    env = ask_process.clean_env(tmp_path, ASK_BASE_URL=f"http://127.0.0.1:{port}", ASK_API_KEY=KEYS[who])
    return ask_process.run(["-m", "lab/priced", *args], env)


def question(port, who, tmp_path, *args):
    time.sleep(PAUSE)
    return ask(port, who, "--max-tokens", "1", *args, "Say OK.", tmp_path=tmp_path)


def usage(port, who, tmp_path):
    result = ask(port, who, "--usage", "--json", tmp_path=tmp_path)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    return {(entry["kind"], entry["name"]): entry for entry in json.loads(result.stdout)}


def until_spent(port, who, tmp_path, kind, name, spend):
    """`ask --usage --json` of WHO once its (KIND, NAME) entry shows SPEND (counted a moment after each answer)."""
    deadline = time.monotonic() + BOUND
    while True:
        entries = usage(port, who, tmp_path)
        if entries[(kind, name)]["spend"] == spend:
            return entries
        if time.monotonic() > deadline:
            raise AssertionError(f"{who}: {kind} {name} spend {entries[(kind, name)]['spend']}, not {spend}")
        time.sleep(0.5)


def request(port, path, key):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {key}"})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def test_usage_shows_the_callers_own_spend_and_budgets(gateway, tmp_path):
    assert question(gateway, "alice", tmp_path).returncode == 0
    assert question(gateway, "batou", tmp_path).returncode == 0
    # LiteLLM writes each one's spend apart, in its batched updates: wait for both
    until_spent(gateway, "alice", tmp_path, "user", "motoko/alice", 2.0)
    alice = until_spent(gateway, "alice", tmp_path, "client", "motoko", 2.0)
    assert set(alice) == {("client", "motoko"), ("user", "motoko/alice")}
    assert alice[("client", "motoko")] | {"budget_reset_at": None} == {
        "kind": "client", "name": "motoko", "spend": 2.0, "max_budget": 5.0, "budget_duration": "30d",
        "budget_reset_at": None,
    }  # fmt: skip
    assert alice[("user", "motoko/alice")]["max_budget"] == 3.0
    assert alice[("user", "motoko/alice")]["budget_duration"] == "1mo"
    batou = until_spent(gateway, "batou", tmp_path, "team", "research", 2.0)
    assert set(batou) == {("client", "batou"), ("team", "research")}
    assert batou[("client", "batou")]["max_budget"] is None
    assert batou[("team", "research")]["max_budget"] == 5.0
    # saito, with no budget and no team: its own spend only.
    assert set(usage(gateway, "saito", tmp_path)) == {("client", "saito")}

    result = ask(gateway, "alice", "--usage", tmp_path=tmp_path)
    print(result.stdout)
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("client motoko: 2.00 USD spent of 5.00 USD per 30d, 3.00 USD left, resets 20")
    assert lines[0].endswith(" UTC")
    assert lines[1].startswith("user motoko/alice: 2.00 USD spent of 3.00 USD per 1mo, 1.00 USD left, resets 20")
    result = ask(gateway, "batou", "--usage", tmp_path=tmp_path)
    assert result.stdout.splitlines()[0] == "client batou: 2.00 USD spent, no budget"
    assert result.stdout.splitlines()[1].startswith("team research: 2.00 USD spent of 5.00 USD per 1mo, 3.00 USD left")


def test_a_callers_key_reads_nobody_elses_numbers(gateway):
    refused = (401, 403)
    for path, key in [
        ("/user/info?user_id=batou", KEYS["motoko"]),
        ("/user/info?user_id=motoko", KEYS["batou"]),
        (f"/customer/info?end_user_id={quote('motoko/bob', safe='')}", KEYS["alice"]),
        (f"/customer/info?end_user_id={quote('motoko/alice', safe='')}", KEYS["bob"]),
        (f"/customer/info?end_user_id={quote('motoko/alice', safe='')}", KEYS["motoko"]),
        ("/team/info?team_id=research", KEYS["saito"]),
        ("/spend/logs", KEYS["saito"]),
        ("/spend/logs/v2?start_date=2020-01-01%2000:00:00&end_date=2100-01-01%2000:00:00", KEYS["saito"]),
        ("/global/spend/logs", KEYS["saito"]),
        ("/user/list", KEYS["saito"]),
        ("/customer/list", KEYS["saito"]),
        ("/team/list", KEYS["saito"]),
        ("/key/list", KEYS["saito"]),
        ("/user/daily/activity?start_date=2020-01-01&end_date=2100-01-01", KEYS["saito"]),
    ]:
        status, body = request(gateway, path, key)
        assert status in refused, f"{path}: {status} {body[:300]}"
    # Its own: the customer and team without an id are the caller's; the master key reads anyone's.
    status, body = request(gateway, "/customer/info", KEYS["alice"])
    assert (status, json.loads(body)["user_id"]) == (200, "motoko/alice")
    status, body = request(gateway, "/team/info", KEYS["togusa"])
    assert (status, json.loads(body)["team_id"]) == (200, "research")
    assert request(gateway, "/customer/info", KEYS["motoko"])[0] == 404  # a client host is no customer
    assert request(gateway, f"/customer/info?end_user_id={quote('motoko/bob', safe='')}", MASTER)[0] == 200
    # The caller's own questions still go through.
    assert request(gateway, "/v1/models", KEYS["saito"])[0] == 200


@pytest.mark.parametrize(
    ("who", "stream", "line"),
    [
        ("alice", True, "the budget of user motoko/alice is spent (4.00 USD of 3.00 USD)"),
        ("motoko", False, "the budget of client motoko is spent (6.00 USD of 5.00 USD)"),
        ("togusa", True, "the budget of team research is spent (6.00 USD of 5.00 USD)"),
    ],
)
def test_a_request_refused_for_budget_is_exit_code_7_and_one_line(gateway, tmp_path, who, stream, line):
    # Spent so far by the tests before: alice 2, motoko 2 (alice's), research 2 (batou's); each answer costs 2.
    flags = [] if stream else ["--no-stream"]
    results = [question(gateway, who, tmp_path, *flags) for _ in range(3)]
    codes = [result.returncode for result in results]
    refused = results[codes.index(7)] if 7 in codes else None
    assert refused is not None, [(r.returncode, r.stderr) for r in results]
    assert set(codes[: codes.index(7)]) <= {0}
    print(refused.stderr)
    assert refused.stdout == ""
    assert refused.stderr == (
        f"ask: the gateway at http://127.0.0.1:{gateway} refused the request: {line}; "
        "`ask --usage` shows when it resets\n"
    )


def test_a_gateway_without_a_database_keeps_no_spend(callers_gateway, tmp_path):
    with callers_gateway(tmp_path, CLIENTS, TEAMS, MASTER) as port:
        result = ask(port, "alice", "--usage", tmp_path=tmp_path)
        assert question(port, "saito", tmp_path).returncode == 0  # the gateway answers questions
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"ask: the gateway at http://127.0.0.1:{port} keeps no spend (it has no database)\n"
