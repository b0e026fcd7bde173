"""LiteLLM's SQL migrations applied by tests/lab/prisma-engine/migrate.py to a real, empty PostgreSQL database.

Every migration LiteLLM ships must apply, in name order, and be recorded in Prisma's `_prisma_migrations` as
`prisma migrate deploy` records it (checksum = sha256 of the file, finished, one step); a second run must change
nothing; a failing migration must stop the run, stay recorded as failed, and block the next run.
"""

import hashlib
import json
import time


def _rows(postgres, name):
    return postgres.query(
        name,
        "SELECT id, checksum, migration_name, finished_at, started_at, applied_steps_count, rolled_back_at IS NULL "
        'FROM "_prisma_migrations" ORDER BY migration_name',
    )


def test_all_migrations_apply_once_and_are_recorded_as_prisma_records_them(postgres, migrate, litellm_site):
    directory = litellm_site / "litellm_proxy_extras" / "migrations"
    shipped = sorted(p.name for p in directory.iterdir() if (p / "migration.sql").is_file())
    url = postgres.database("migrations")

    started = time.monotonic()
    first = migrate(url)
    print(f"{len(shipped)} migrations on an empty database: {time.monotonic() - started:.1f} s")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"applied": shipped, "pending": [], "changed": True}

    rows = _rows(postgres, "migrations")
    assert [row[2] for row in rows] == shipped
    for _, checksum, name, finished_at, _, steps, not_rolled_back in rows:
        assert checksum == hashlib.sha256((directory / name / "migration.sql").read_bytes()).hexdigest()
        assert finished_at
        assert (steps, not_rolled_back) == ("1", "t")
    tables = postgres.query("migrations", "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'LiteLLM_%'")
    assert int(tables[0][0]) > 20

    started = time.monotonic()
    second = migrate(url)
    print(f"second run: {time.monotonic() - started:.2f} s")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == {"applied": [], "pending": [], "changed": False}
    assert _rows(postgres, "migrations") == rows


def test_check_mode_reports_pending_migrations_and_changes_nothing(postgres, migrate, litellm_site):
    url = postgres.database("migrations_check")
    result = migrate(url, None, "--check")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["changed"] is False
    assert report["pending"][0] == "20250326162113_baseline"
    assert _rows(postgres, "migrations_check") == []


def test_a_failing_migration_stops_the_run_and_blocks_the_next(postgres, migrate, tmp_path):
    for name, sql in {
        "1_first": "CREATE TABLE one (id int);",
        "2_broken": "CREATE TABLE two (id int);\nSELECT no_such_column FROM one;",
        "3_after": "CREATE TABLE three (id int);",
    }.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "migration.sql").write_text(sql)
    url = postgres.database("migrations_broken")

    first = migrate(url, tmp_path)
    assert first.returncode == 1
    assert "no_such_column" in first.stderr
    rows = {row[2]: row for row in _rows(postgres, "migrations_broken")}
    assert rows["1_first"][3]  # finished
    assert rows["2_broken"][3] == ""  # recorded, never finished: Prisma's mark of a failed migration
    assert "3_after" not in rows
    assert postgres.query("migrations_broken", "SELECT to_regclass('three') IS NULL") == [["t"]]

    second = migrate(url, tmp_path)
    assert second.returncode == 1
    assert "2_broken failed in an earlier run" in second.stderr
    assert "3_after" not in {row[2] for row in _rows(postgres, "migrations_broken")}


def test_the_database_password_stays_off_the_command_line_and_out_of_errors(postgres, migrate, tmp_path):
    (tmp_path / "1_broken").mkdir()
    (tmp_path / "1_broken" / "migration.sql").write_text("SELECT 1/0;")
    postgres.query("postgres", "CREATE ROLE migrator LOGIN PASSWORD 'pw-s3cret-value' SUPERUSER")
    postgres.database("migrations_secret")
    url = f"postgresql://migrator:pw-s3cret-value@127.0.0.1:{postgres.port}/migrations_secret"
    result = migrate(url, tmp_path)
    assert result.returncode == 1
    assert "division by zero" in result.stderr
    assert "pw-s3cret-value" not in result.stderr + result.stdout
    assert "pw-s3cret-value" not in " ".join(result.args)
