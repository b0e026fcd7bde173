"""The query engine adapter (tests/lab/prisma-engine) as prisma-client-python uses it, against a real PostgreSQL.

prisma-client-python 0.15.0 (the litellm venv's, the client LiteLLM runs) with LiteLLM's own schema, generated
for these tests, starts the adapter itself through PRISMA_QUERY_ENGINE_BINARY, as it starts the native engine,
and sends every request shape it has: create, find_unique, find_many with filters, order and take, update with
an increment, update_many, delete, count, group_by, raw queries and statements, batches, interactive
transactions. Values of every tagged type (DateTime, Json, BigInt, Float, String[]) must come back as they went
in, and the engine's errors must raise the exceptions the native engine's errors raise (unique constraint P2002,
record not found P2025, unknown argument).
"""

import http.client
import json
import os
import re
import subprocess
import time

import loopback
import pytest

PROBE = r"""
import asyncio, datetime, json, sys, time
from prisma import Prisma, errors

async def main():
    out = {}
    started = time.monotonic()
    db = Prisma()
    await db.connect()
    out["connect_seconds"] = time.monotonic() - started
    T = db.litellm_verificationtoken
    expires = datetime.datetime(2031, 2, 3, 4, 5, 6, 789000, tzinfo=datetime.timezone.utc)
    created = await T.create(data={
        "token": "probe-1", "max_budget": 2.5, "metadata": json.dumps({"team": "ops", "n": [1, 2]}),
        "expires": expires, "models": ["a", "b"], "tpm_limit": 9007199254740993, "key_alias": "probe",
    })
    out["created"] = {"expires": created.expires.isoformat(), "metadata": created.metadata, "models": created.models,
                      "tpm_limit": created.tpm_limit, "max_budget": created.max_budget, "spend": created.spend}
    found = await T.find_unique(where={"token": "probe-1"})
    out["found"] = found.key_alias
    out["missing"] = await T.find_unique(where={"token": "absent"})
    for name, call in {
        "duplicate": T.create(data={"token": "probe-1"}),
        "or_raise": T.find_unique_or_raise(where={"token": "absent"}),
        "unknown_argument": T.find_many(where={"no_such_field": 1}),
    }.items():
        try:
            await call
            out[name] = None
        except errors.PrismaError as e:
            out[name] = [type(e).__name__, getattr(e, "code", None)]
    out["update_missing"] = await T.update(where={"token": "absent"}, data={"spend": 1.0})
    await T.update(where={"token": "probe-1"}, data={"spend": {"increment": 0.75}})
    await T.create(data={"token": "probe-2", "spend": 1.0, "expires": datetime.datetime(2020, 1, 1)})
    listed = await T.find_many(where={"expires": {"gt": datetime.datetime(2025, 1, 1)}}, order={"token": "asc"}, take=5)
    out["listed"] = [t.token for t in listed]
    out["update_many"] = await T.update_many(where={"token": {"startswith": "probe-"}}, data={"blocked": False})
    out["count"] = await T.count(where={"spend": {"gte": 0.5}})
    groups = await T.group_by(by=["key_alias"], sum={"spend": True}, order={"key_alias": "asc"})
    out["groups"] = [[g["key_alias"], g["_sum"]["spend"]] for g in groups]
    out["raw_rows"] = await db.query_raw(
        'SELECT token, spend, expires FROM "LiteLLM_VerificationToken" WHERE token = $1', "probe-1")
    out["raw_names"] = await db.query_raw("SELECT tablename, ARRAY[tablename] AS names FROM pg_tables WHERE schemaname = 'public' LIMIT 1")
    out["raw_execute"] = await db.execute_raw(
        'UPDATE "LiteLLM_VerificationToken" SET spend = spend + $1 WHERE token = $2', 0.25, "probe-2")
    async with db.batch_() as batch:
        batch.litellm_verificationtoken.update(where={"token": "probe-1"}, data={"spend": {"increment": 1}})
        batch.litellm_verificationtoken.delete(where={"token": "probe-2"})
    try:
        async with db.tx() as tx:
            await tx.litellm_verificationtoken.update(where={"token": "probe-1"}, data={"spend": 100.0})
            raise RuntimeError("roll back")
    except RuntimeError:
        pass
    async with db.tx() as tx:
        await tx.litellm_verificationtoken.update(where={"token": "probe-1"}, data={"key_alias": "in-tx"})
    final = await T.find_unique(where={"token": "probe-1"})
    out["final"] = [final.spend, final.key_alias, await T.count()]
    metrics = await db.get_metrics()
    out["metrics"] = sorted(m.key for m in metrics.counters)
    await db.disconnect()
    print(json.dumps(out, default=str))

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def probe_db(postgres, migrate):
    url = postgres.database("probe")
    result = migrate("probe")
    assert result.returncode == 0, result.output
    return url


@pytest.fixture(scope="module")
def probe(prisma_client, probe_db, tmp_path_factory):
    pythonpath, _, launcher = prisma_client
    env = {
        **os.environ,
        "PYTHONPATH": str(pythonpath),
        "PRISMA_QUERY_ENGINE_BINARY": str(launcher),
        "DATABASE_URL": probe_db,
    }
    proc = subprocess.run(
        [loopback.venv_bin("litellm", "python"), "-c", PROBE],
        env=env,
        cwd=tmp_path_factory.mktemp("probe"),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


def test_the_adapter_reports_the_engine_version_prisma_client_python_expects(prisma_client, litellm_site):
    expected = re.search(r"default='([0-9a-f]{40})'", (litellm_site / "prisma" / "_config.py").read_text())[1]
    started = time.monotonic()
    out = subprocess.run([str(prisma_client[2]), "--version"], capture_output=True, text=True, timeout=30, check=True)
    print(f"--version: {time.monotonic() - started:.2f} s")
    assert out.stdout.strip() == f"query-engine {expected}"


def test_the_adapter_answers_status_and_metrics(prisma_client, probe_db, engine_adapter, tmp_path):
    _, dml_path, launcher = prisma_client
    with engine_adapter(launcher, dml_path, probe_db, tmp_path) as (port, seconds):
        print(f"adapter ready (/status) after {seconds:.2f} s")
        status, body = loopback.http_get(port, "/status")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        status, body = loopback.http_get(port, "/metrics?format=json")
        assert status == 200
        assert {m["key"] for m in json.loads(body)["counters"]} >= {"prisma_client_queries_total"}
        status, body = loopback.http_get(port, "/metrics?format=prometheus")
        assert status == 200
        assert b"prisma_pool_connections_open " in body


def test_a_malformed_query_is_refused_as_the_native_engine_refuses_it(
    prisma_client, probe_db, engine_adapter, tmp_path
):
    _, dml_path, launcher = prisma_client
    with engine_adapter(launcher, dml_path, probe_db, tmp_path) as (port, _):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/", json.dumps({"query": "query { result: nonsense", "variables": {}}))
        response = conn.getresponse()
        assert response.status == 422  # prisma-client-python: UnprocessableEntityError
        conn.close()


def test_the_client_connects_through_the_adapter(probe):
    print(f"prisma connect (spawn + /status): {probe['connect_seconds']:.2f} s")
    assert probe["connect_seconds"] < 60


def test_tagged_values_come_back_as_they_went_in(probe):
    assert probe["created"] == {
        "expires": "2031-02-03T04:05:06.789000+00:00",
        "metadata": {"team": "ops", "n": [1, 2]},
        "models": ["a", "b"],
        "tpm_limit": 9007199254740993,
        "max_budget": 2.5,
        "spend": 0.0,
    }
    assert probe["found"] == "probe"
    assert probe["missing"] is None


def test_engine_errors_raise_the_native_engines_exceptions(probe):
    assert probe["duplicate"] == ["UniqueViolationError", "P2002"]
    assert probe["or_raise"] == ["RecordNotFoundError", "P2025"]
    assert probe["unknown_argument"][0] == "FieldNotFoundError"
    assert probe["update_missing"] is None  # update() turns P2025 into None


def test_filters_ordering_counts_and_groups(probe):
    assert probe["listed"] == ["probe-1"]
    assert probe["update_many"] == 2
    assert probe["count"] == 2
    assert probe["groups"] == [["probe", 0.75], [None, 1.0]]


def test_raw_queries_and_catalog_names(probe):
    [row] = probe["raw_rows"]
    assert row["token"] == "probe-1"
    assert row["spend"] == 0.75
    assert row["expires"].startswith("2031-02-03T04:05:06.789")
    [table] = probe["raw_names"]  # pg_tables.tablename is of type `name` (LiteLLM reads pg_views'): read as text
    assert table["names"] == [table["tablename"]]
    assert probe["raw_execute"] == 1


def test_batches_commit_and_transactions_roll_back(probe):
    # batch: +1 on probe-1, probe-2 deleted; the first transaction rolled back, the second committed
    assert probe["final"] == [1.75, "in-tx", 1]
    assert "prisma_client_queries_total" in probe["metrics"]
