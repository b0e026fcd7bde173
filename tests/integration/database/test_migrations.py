"""LiteLLM's SQL migrations applied by tailnet.llm._litellm_migrations (run by ansible-playbook) to a real
PostgreSQL.

Every migration LiteLLM ships must apply to an empty database, in name order, and be recorded in Prisma's
`_prisma_migrations` as `prisma migrate deploy` records it (checksum = sha256 of the file, finished, one step),
owned by the database's owner; a second run changes nothing; check mode lists what is pending and changes nothing;
a failing migration stops the run naming it, stays recorded as failed and blocks the next run; concurrent runs
apply each migration once.
"""

import hashlib
import time


def _rows(postgres, name):
    return postgres.query(
        name,
        "SELECT id, checksum, migration_name, finished_at, started_at, applied_steps_count, rolled_back_at IS NULL "
        "FROM \"_prisma_migrations\" WHERE to_regclass('_prisma_migrations') IS NOT NULL ORDER BY migration_name",
    )


def _write(directory, migrations):
    for name, sql in migrations.items():
        (directory / name).mkdir()
        (directory / name / "migration.sql").write_text(sql)
    return directory


def test_all_migrations_apply_once_and_are_recorded_as_prisma_records_them(postgres, migrate, litellm_site):
    directory = litellm_site / "litellm_proxy_extras" / "migrations"
    shipped = sorted(p.name for p in directory.iterdir() if (p / "migration.sql").is_file())
    postgres.database("migrations", owner="gateway")

    started = time.monotonic()
    first = migrate("migrations")
    print(f"{len(shipped)} migrations on an empty database: {time.monotonic() - started:.1f} s")
    assert first.returncode == 0, first.output
    assert first.result["changed"] is True
    assert (first.result["applied"], first.result["pending"]) == (shipped, [])
    assert first.result["diff"] == {"before": "", "after": "".join(f"{name}\n" for name in shipped)}

    rows = _rows(postgres, "migrations")
    assert [row[2] for row in rows] == shipped
    for _, checksum, name, finished_at, _, steps, not_rolled_back in rows:
        assert checksum == hashlib.sha256((directory / name / "migration.sql").read_bytes()).hexdigest()
        assert finished_at
        assert (steps, not_rolled_back) == ("1", "t")
    # The gateways' user owns what the superuser's session created: LiteLLM reads, writes and adds views.
    owners = postgres.query(
        "migrations",
        "SELECT DISTINCT tableowner FROM pg_tables WHERE tablename LIKE 'LiteLLM_%' OR tablename = '_prisma_migrations'",
    )
    assert owners == [["gateway"]]
    tables = postgres.query("migrations", "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'LiteLLM_%'")
    assert int(tables[0][0]) > 20

    started = time.monotonic()
    second = migrate("migrations")
    print(f"second run: {time.monotonic() - started:.2f} s")
    assert second.returncode == 0, second.output
    assert (second.result["changed"], second.result["applied"], second.result["pending"]) == (False, [], [])
    assert _rows(postgres, "migrations") == rows

    # Check mode on the migrated database: nothing pending, nothing to change.
    checked = migrate("migrations", check=True)
    assert (checked.result["changed"], checked.result["pending"]) == (False, [])


def test_check_mode_lists_pending_migrations_and_changes_nothing(postgres, migrate, litellm_site, tmp_path):
    postgres.database("migrations_check")
    result = migrate("migrations_check", check=True)
    assert result.returncode == 0, result.output
    shipped = sorted(p.name for p in (litellm_site / "litellm_proxy_extras" / "migrations").iterdir() if p.is_dir())
    assert result.result["changed"] is True
    assert result.result["applied"] == []
    assert result.result["pending"][0] == "20250326162113_baseline"
    assert set(result.result["pending"]) <= set(shipped)
    assert result.result["diff"]["before"] == ""
    # Not even Prisma's table is created.
    assert postgres.query("migrations_check", "SELECT to_regclass('_prisma_migrations') IS NULL") == [["t"]]

    # Before the state host's first deploy the database does not exist: all pending, for check mode only.
    missing = migrate("migrations_not_created", check=True)
    assert (missing.returncode, missing.result["pending"]) == (0, result.result["pending"])
    assert "does not exist" in migrate("migrations_not_created").result["msg"]

    # Part applied: check mode lists exactly the rest.
    directory = _write(tmp_path, {"1_one": "CREATE TABLE one (id int);"})
    postgres.database("migrations_check_part")
    assert migrate("migrations_check_part", directory).result["applied"] == ["1_one"]
    _write(directory, {"2_two": "CREATE TABLE two (id int);"})
    part = migrate("migrations_check_part", directory, check=True)
    assert (part.result["pending"], part.result["diff"]) == (
        ["2_two"],
        {"before": "1_one\n", "after": "1_one\n2_two\n"},
    )
    assert postgres.query("migrations_check_part", "SELECT to_regclass('two') IS NULL") == [["t"]]


def test_a_failing_migration_stops_the_run_naming_it_and_blocks_the_next(postgres, migrate, tmp_path):
    directory = _write(
        tmp_path,
        {
            "1_first": "CREATE TABLE one (id int);",
            "2 broken's": "CREATE TABLE two (id int);\nSELECT no_such_column FROM one;",
            "3_after": "CREATE TABLE three (id int);",
        },
    )
    postgres.database("migrations_broken")

    first = migrate("migrations_broken", directory)
    assert first.returncode != 0
    message = first.result["msg"]
    assert message.startswith("database migrations_broken: migration 2 broken's failed"), message
    assert "no_such_column" in message
    assert first.result["applied"] == ["1_first"]
    rows = {row[2]: row for row in _rows(postgres, "migrations_broken")}
    assert rows["1_first"][3]  # finished
    assert rows["2 broken's"][3] == ""  # recorded, never finished: Prisma's mark of a failed migration
    assert "3_after" not in rows
    logs = postgres.query("migrations_broken", 'SELECT logs FROM "_prisma_migrations" WHERE finished_at IS NULL')
    assert "no_such_column" in logs[0][0]
    assert postgres.query("migrations_broken", "SELECT to_regclass('three') IS NULL") == [["t"]]

    second = migrate("migrations_broken", directory)
    assert second.returncode != 0
    assert "migration 2 broken's failed in an earlier run" in second.result["msg"]
    assert "3_after" not in {row[2] for row in _rows(postgres, "migrations_broken")}
    # Check mode says so too, rather than listing migrations a run could not apply.
    checked = migrate("migrations_broken", directory, check=True)
    assert "migration 2 broken's failed in an earlier run" in checked.result["msg"]


def test_concurrent_runs_apply_each_migration_once(postgres, migrate, tmp_path):
    # Slow enough migrations that the runs overlap: each sleeps, so the other runs read and apply while one applies
    # (a migration being applied is recorded unfinished: it must be waited for, not read as a failed one).
    directory = _write(
        tmp_path, {f"{i}_step": f"SELECT pg_sleep(0.4);\nCREATE TABLE step{i} (id int);" for i in range(1, 7)}
    )
    postgres.database("migrations_concurrent")
    result = migrate("migrations_concurrent", directory, hosts=3)
    assert result.returncode == 0, result.output
    applied = [name for host in result.results.values() for name in host["applied"]]
    assert sorted(applied) == [f"{i}_step" for i in range(1, 7)]  # each once, by one run or the other
    rows = _rows(postgres, "migrations_concurrent")
    assert [row[2] for row in rows] == [f"{i}_step" for i in range(1, 7)]
    assert all(row[3] for row in rows)


def test_a_missing_directory_fails_naming_it(postgres, migrate, tmp_path):
    postgres.database("migrations_missing")
    result = migrate("migrations_missing", tmp_path / "nowhere")
    assert result.returncode != 0
    assert (
        result.result["msg"]
        == f"database migrations_missing: the migrations directory {tmp_path / 'nowhere'} does not exist"
    )
