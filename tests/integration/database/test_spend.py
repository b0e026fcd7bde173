"""`make spend`'s playbook (tailnet.llm.spend, the litellm role's `spend` entry point) against the real LiteLLM in
database mode with the real PostgreSQL: the spend that real requests recorded, per client, user, team and model, over
a period, read from the gateway's API with the master key (which appears nowhere in the output).

The gateway (conftest.callers_gateway) serves a model priced at 2 USD an answer; budgets synced as in test_budgets.py.
"""

import http.client
import json
import secrets
import time

import helpers
import pytest
import yaml
from test_budgets import gateway_inventory, run_sync

pytestmark = pytest.mark.slow

MASTER = "sk-spend-master-" + secrets.token_hex(8)
KEYS = {name: f"sk-{name}-" + secrets.token_hex(8) for name in ("motoko", "alice", "batou", "saito")}
TEAMS = [{"name": "research", "members": ["batou"], "budget": {"max_usd": 100, "period": "1mo"}}]
CLIENTS = {
    "motoko": {
        "llm_client_key": KEYS["motoko"],
        "llm_client_users": [{"name": "alice"}],
        "llm_client_user_keys": {"alice": KEYS["alice"]},
    },
    "batou": {"llm_client_key": KEYS["batou"]},
    "saito": {"llm_client_key": KEYS["saito"]},
}
QUESTIONS = ["alice", "motoko", "batou", "batou", "saito"]  # 2 USD each
DB = "litellm_spend"


def _inventory(port, database_host="127.0.0.1"):
    return gateway_inventory(port, MASTER, CLIENTS, TEAMS, database_host)


def _chat(port, who):
    time.sleep(1.5)  # one after another (test_budgets.py)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = {"model": "lab/priced", "messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 1}
    try:
        conn.request("POST", "/v1/chat/completions", json.dumps(body), {"Authorization": f"Bearer {KEYS[who]}"})
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.fixture(scope="module")
def gateway(callers_gateway, postgres, tmp_path_factory):
    """(port, workdir) of a gateway in database mode with QUESTIONS' spend in its logs."""
    workdir = tmp_path_factory.mktemp("spend")
    with callers_gateway(workdir, CLIENTS, TEAMS, MASTER, database=DB) as port:
        code, _, output, _ = run_sync(workdir, _inventory(port))
        assert code == 0, output[-3000:]
        assert [_chat(port, who) for who in QUESTIONS] == [200] * len(QUESTIONS)
        deadline = time.monotonic() + 60
        while postgres.query(DB, 'SELECT count(*) FROM "LiteLLM_SpendLogs"') != [[str(len(QUESTIONS))]]:
            assert time.monotonic() < deadline, "the spend logs were not written within 60 s"
            time.sleep(0.5)
        yield port, workdir


def spend(workdir, inventory, *options, callback="ansible.posix.json"):
    """`ansible-playbook tailnet.llm.spend` as `make spend` runs it: (return code, the module's result, output)."""
    hosts = workdir / "spend-hosts.yml"
    hosts.write_text(yaml.safe_dump(inventory))
    run = helpers.ansible_playbook(
        "-i", hosts, "tailnet.llm.spend", *options, timeout=300, ANSIBLE_STDOUT_CALLBACK=callback
    )
    return run.returncode, run.result("gw", "Read the spend from the gateway's spend logs"), run.output


def test_spend_per_client_user_team_and_model_over_the_period(gateway):
    port, workdir = gateway
    code, result, output = spend(workdir, _inventory(port), "-e", "litellm_spend_period=30d")
    assert code == 0, output[-3000:]
    assert result["changed"] is False
    one, two = {"spend": 2.0, "requests": 1}, {"spend": 4.0, "requests": 2}
    assert result["spend"] == {
        "total": 10.0,
        "requests": 5,
        "clients": {"motoko": two, "batou": two, "saito": one},
        "users": {"motoko/alice": one},
        "teams": {"research": two},
        "models": {"lab/priced": {"spend": 10.0, "requests": 5}},
    }
    assert result["report"][0].endswith("UTC: 10.00 USD in 5 requests")
    assert result["report"][1:4] == [
        "clients:",
        "  batou         4.00 USD       2 requests",
        "  motoko        4.00 USD       2 requests",
    ]
    assert "users:" in result["report"]
    assert MASTER not in output


def test_the_report_is_printed_and_the_master_key_is_not(gateway):
    port, workdir = gateway
    code, _, output = spend(workdir, _inventory(port), "-vvv", callback="ansible.builtin.default")
    assert code == 0, output[-3000:]
    print(output[-1500:])
    assert "  motoko/alice        2.00 USD       1 requests" in output
    assert "  research        4.00 USD       2 requests" in output
    assert MASTER not in output


def test_a_period_from_start_to_end(gateway):
    port, workdir = gateway
    options = ["-e", 'litellm_spend_start="2000-01-01"', "-e", 'litellm_spend_end="2000-01-31"']
    code, result, output = spend(workdir, _inventory(port), *options)
    assert code == 0, output[-3000:]
    assert (result["start"], result["end"]) == ("2000-01-01 00:00:00", "2000-01-31 23:59:59")
    assert (result["spend"]["total"], result["spend"]["requests"], result["spend"]["clients"]) == (0.0, 0, {})
    code, result, output = spend(workdir, _inventory(port), "-e", 'litellm_spend_start="2000-01-01"')
    assert (code, result["spend"]["requests"]) == (0, 5), output[-3000:]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["-e", "litellm_spend_period=soon"], "period must be a number and a unit (s, m, h, d, w, mo), e.g. 30d"),
        (["-e", 'litellm_spend_start="yesterday"'], "start must be YYYY-MM-DD or 'YYYY-MM-DD HH:MM:SS'"),
        (["-e", 'litellm_spend_start="2030-01-02"', "-e", 'litellm_spend_end="2030-01-01"'], "starts (2030-01-02"),
    ],
)
def test_bad_input_is_named(gateway, options, message):
    port, workdir = gateway
    code, result, output = spend(workdir, _inventory(port), *options)
    assert code != 0
    assert message in result["msg"], output[-2000:]


def test_a_gateway_without_a_database_keeps_no_spend(tmp_path):
    code, _, output = spend(tmp_path, _inventory(helpers.free_port(), database_host=""))
    assert code != 0
    assert "host gw: litellm_database_host is empty: without a database the gateway keeps no spend" in output
