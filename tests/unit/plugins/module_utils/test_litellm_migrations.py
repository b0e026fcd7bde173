"""What LiteLLM's migrations module decides before psql runs (plugins/module_utils/litellm_migrations.py): which
migrations there are, what `_prisma_migrations` says, what is pending or blocked, and the psql script that applies
them. Applying them to a real PostgreSQL is tests/integration/database/test_migrations.py."""

import hashlib

import pytest
from ansible_collections.tailnet.llm.plugins.module_utils.litellm_migrations import (
    PRISMA_ADVISORY_LOCK,
    MigrationError,
    apply_script,
    failed,
    finished,
    migrations,
    parse_recorded,
    plan,
    psql_argument,
)


def _tree(root, names):
    for name in names:
        (root / name).mkdir()
        (root / name / "migration.sql").write_text(f"-- {name}\n")
    return root


def test_migrations_are_the_folders_with_a_migration_sql_in_name_order(tmp_path):
    _tree(tmp_path, ["20250101_b", "20240101_a", "20250326162113_baseline with spaces"])
    (tmp_path / "migration_lock.toml").write_text('provider = "postgresql"\n')
    (tmp_path / "20260101_empty").mkdir()
    found = migrations(str(tmp_path))
    assert [entry[0] for entry in found] == ["20240101_a", "20250101_b", "20250326162113_baseline with spaces"]
    path, checksum = found[0][1:]
    assert path == str(tmp_path / "20240101_a" / "migration.sql")
    assert checksum == hashlib.sha256(b"-- 20240101_a\n").hexdigest()  # Prisma's checksum: the file's SHA-256


def test_no_migrations_fail_naming_the_directory(tmp_path):
    with pytest.raises(MigrationError, match=f"no <name>/migration.sql under {tmp_path}"):
        migrations(str(tmp_path))
    with pytest.raises(MigrationError, match="the migrations directory /nowhere does not exist"):
        migrations("/nowhere")


def test_recorded_rows_say_what_is_applied_and_what_failed():
    rows = parse_recorded(
        "1_done|t|f|aaa\n"
        "2_failed|f|f|bbb\n"
        "3_rolled_back|f|t|ccc\n"  # resolved --rolled-back: to apply again
        "4_retried|f|t|ddd\n4_retried|t|f|ddd\n"  # rolled back, then applied
        "5 odd|name|t|f|eee\n"  # a | in a name: the columns are the last three
    )
    assert rows["5 odd|name"] == [(True, False, "eee")]
    assert finished(rows) == ["1_done", "4_retried", "5 odd|name"]
    assert failed(rows) == ["2_failed"]


def test_pending_are_those_not_applied_and_a_failed_one_blocks_them_all():
    shipped = [(name, f"/m/{name}/migration.sql", "x") for name in ["1_done", "2_new", "3_rolled_back"]]
    rows = parse_recorded("1_done|t|f|x\n3_rolled_back|f|t|x\n")
    assert [entry[0] for entry in plan(shipped, rows)] == ["2_new", "3_rolled_back"]
    assert plan(shipped, parse_recorded("1_done|t|f|x\n2_new|t|f|x\n3_rolled_back|t|f|x\n")) == []
    with pytest.raises(MigrationError, match=r"^migration 2_new failed in an earlier run .*resolve .* 2_new\)"):
        plan(shipped, parse_recorded("1_done|t|f|x\n2_new|f|f|x\n"))


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("plain", "'plain'"),
        ("it's", "'it''s'"),
        ("back\\slash", "'back\\\\slash'"),
        ("two\nlines", "'two\\nlines'"),
    ],
)
def test_values_reach_psql_quoted_for_its_meta_commands(text, quoted):
    assert psql_argument(text) == quoted


def test_the_script_applies_each_under_the_lock_as_the_owner_and_records_it():
    pending = [("1 it's", "/m/1 it's/migration.sql", "c1"), ("2_b", "/m/2_b/migration.sql", "c2")]
    script = apply_script(pending, {"1 it's": "id-1", "2_b": "id-2"}).splitlines()
    # The owner first, then the lock, then Prisma's table, before any migration.
    assert script[1] == 'SET ROLE :"db_owner";'
    lock = script.index(f"SELECT pg_advisory_lock({PRISMA_ADVISORY_LOCK});")
    assert lock < next(i for i, line in enumerate(script) if line.startswith('CREATE TABLE IF NOT EXISTS "_prisma'))
    assert script[-1] == f"SELECT pg_advisory_unlock({PRISMA_ADVISORY_LOCK});"
    first = script.index("\\set m_name '1 it''s'")
    assert script[first - 1] == "\\set m_id 'id-1'"
    assert script[first + 1] == "\\set m_checksum 'c1'"
    include = script.index("\\i '/m/1 it''s/migration.sql'")
    # Recorded as started before it runs (a failure leaves it unfinished), finished after.
    assert script[include - 1].startswith('INSERT INTO "_prisma_migrations"')
    assert "finished_at = now(), applied_steps_count = 1 WHERE id = :'m_id'" in script[include + 1]
    # A migration a concurrent run applied meanwhile stops this session.
    assert script[first + 2 : first + 7][1:4] == ["\\if :taken", "\\echo CONCURRENT", "\\quit"]
    assert script.index("\\i '/m/2_b/migration.sql'") > include
