"""The real LiteLLM proxy in database mode: virtual keys, budgets and spend in a real PostgreSQL.

LiteLLM (build/venvs/litellm, the release the gateways run) starts with DATABASE_URL; its Prisma client (generated
for its schema, conftest.py) runs the query engine adapter (tests/lab/prisma-engine) through
PRISMA_QUERY_ENGINE_BINARY. The database is migrated beforehand by tailnet.llm._litellm_migrations, so the proxy does not migrate
(DISABLE_SCHEMA_UPDATE=true). The model is an instant loopback backend (tests/servers/fast_openai.py) priced at
1 USD per token: each answer (1 prompt + 1 completion token) costs 2 USD.

A key generated with max_budget 3 works, its spend is recorded (the key's row and the spend logs), the budget is
enforced ("Budget has been exceeded"), and all of it is still there after the proxy restarts.
"""

import http.client
import json
import secrets
import sys
import time

import helpers
import loopback
import pytest

pytestmark = pytest.mark.slow

MASTER = "sk-dbmode-master-" + secrets.token_hex(8)
MODEL = "lab/priced"
COST_PER_ANSWER = 2.0
MAX_BUDGET = 3.0
BOUND = 60  # seconds: every wait below ends by then
BUDGET_EXCEEDED = 422  # litellm.budget_exceeded_status_code in this release (429 before it)


def _request(port, method, path, key, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        payload = json.dumps(body) if body is not None else None
        conn.request(method, path, payload, {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def _chat(port, key):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 1}
    return _request(port, "POST", "/v1/chat/completions", key, body)


def _until(condition, what):
    """Poll CONDITION (at most BOUND seconds, 0.5 s apart) until it returns a true value; return it."""
    deadline = time.monotonic() + BOUND
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {BOUND} s")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def stack(postgres, migrate, prisma_client, tmp_path_factory):
    """(start_proxy() context manager, database name): a migrated database and LiteLLM's settings for it."""
    workdir = tmp_path_factory.mktemp("dbmode")
    # Owned by the gateways' user, which LiteLLM logs in as; the migrations run as the cluster's superuser.
    url = postgres.database("litellm_dbmode", owner="litellm")
    started = time.monotonic()
    result = migrate("litellm_dbmode")
    assert result.returncode == 0, result.output
    print(f"migrations: {time.monotonic() - started:.1f} s")
    pythonpath, _, launcher = prisma_client
    backend = helpers.free_port()
    fast = [sys.executable, str(helpers.REPO / "tests/servers/fast_openai.py"), "--port", str(backend), "--model", "m"]
    config = workdir / "config.yaml"
    config.write_text(
        f"""model_list:
  - model_name: {MODEL}
    litellm_params:
      model: openai/m
      api_base: http://127.0.0.1:{backend}/v1
      api_key: none
      input_cost_per_token: 1.0
      output_cost_per_token: 1.0
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  proxy_batch_write_at: 1
litellm_settings:
  telemetry: false
  num_retries: 0
"""
    )
    env = {
        "LITELLM_MASTER_KEY": MASTER,
        "DATABASE_URL": url,
        "PRISMA_QUERY_ENGINE_BINARY": str(launcher),
        "PYTHONPATH": str(pythonpath),
        "DISABLE_SCHEMA_UPDATE": "true",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }

    def start_proxy():
        return loopback.litellm_with_config(config, env, workdir)

    with loopback.running("fast", fast, backend, "/v1/models", workdir):
        yield start_proxy, workdir


def _port(url):
    return int(url.rsplit(":", 1)[1])


def test_a_key_with_a_budget_is_spent_enforced_and_survives_a_restart(stack, postgres):
    start_proxy, _ = stack
    db = "litellm_dbmode"
    with start_proxy() as url:
        port = _port(url)
        status, body = _request(port, "GET", "/health/readiness", MASTER)
        assert json.loads(body)["db"] == "connected", body

        timings = []
        for _ in range(3):
            started = time.monotonic()
            status, body = _request(
                port, "POST", "/key/generate", MASTER, {"max_budget": MAX_BUDGET, "models": [MODEL]}
            )
            timings.append(time.monotonic() - started)
            assert status == 200, body
        print("/key/generate: " + ", ".join(f"{t * 1000:.0f} ms" for t in timings))
        key = json.loads(body)["key"]
        token = json.loads(body)["token"]  # the hash LiteLLM stores
        [[max_budget]] = postgres.query(
            db, f"""SELECT max_budget FROM "LiteLLM_VerificationToken" WHERE token = '{token}'"""
        )
        assert float(max_budget) == MAX_BUDGET

        statuses = []
        for _ in range(10):  # 2 USD per answer, 3 USD budget: the third request at the latest is refused
            status, body = _chat(port, key)
            statuses.append(status)
            if status != 200:
                break
            time.sleep(0.5)  # the spend is added to the key's cached spend after the answer
        assert statuses[0] == 200
        assert statuses[-1] == BUDGET_EXCEEDED, statuses
        assert "Budget has been exceeded" in body
        answered = statuses.count(200)

        spend = _until(
            lambda: [
                float(v)
                for [v] in postgres.query(
                    db, f"""SELECT spend FROM "LiteLLM_VerificationToken" WHERE token = '{token}'"""
                )
                if float(v) >= answered * COST_PER_ANSWER
            ],
            "the key's spend written to LiteLLM_VerificationToken",
        )[0]
        assert spend == pytest.approx(answered * COST_PER_ANSWER)
        logs = _until(
            lambda: [
                row
                for row in postgres.query(
                    db, f"""SELECT count(*), sum(spend) FROM "LiteLLM_SpendLogs" WHERE api_key = '{token}'"""
                )
                if int(row[0]) >= answered
            ],
            "the answers written to LiteLLM_SpendLogs",
        )
        assert float(logs[0][1]) == pytest.approx(answered * COST_PER_ANSWER)

    with start_proxy() as url:
        port = _port(url)
        status, body = _request(port, "GET", f"/key/info?key={key}", MASTER)
        assert status == 200, body
        info = json.loads(body)["info"]
        assert info["spend"] == pytest.approx(answered * COST_PER_ANSWER)
        assert info["max_budget"] == MAX_BUDGET
        status, body = _chat(port, key)
        assert status == BUDGET_EXCEEDED
        assert "Budget has been exceeded" in body
        status, _ = _chat(port, MASTER)
        assert status == 200
