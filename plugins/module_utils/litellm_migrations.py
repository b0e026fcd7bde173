# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""LiteLLM's SQL migrations applied to PostgreSQL with psql, keeping Prisma's `_prisma_migrations` bookkeeping true.

LiteLLM ships its schema history as plain SQL (litellm_proxy_extras/migrations/<name>/migration.sql). Prisma's
`migrate deploy`, which LiteLLM runs at start-up, applies the same files with the native schema engine. This
applies them in name order, each with `psql -v ON_ERROR_STOP=1`, and records each in `_prisma_migrations` as
`prisma migrate deploy` does (id, checksum = sha256 of the file, migration_name, started_at, finished_at,
applied_steps_count = 1), so that Prisma and LiteLLM's own start-up check see them as applied.

- Idempotent: a migration recorded as finished is skipped.
- One run at a time: applying holds Prisma's own advisory lock (72707369), so runs serialise with each other and
  with a concurrent `prisma migrate deploy`; a run that finds a migration applied meanwhile re-reads the table.
- A failed migration stays recorded without finished_at (as Prisma records it, its error in `logs`); later runs
  refuse to go on until an operator resolves it (Prisma's P3009).
- The objects belong to the database's owner (the gateways' user): the session applies the SQL as that role
  (SET ROLE), whoever logs in (the cluster's superuser, over the local socket).
- Reading changes nothing (check mode): a database without `_prisma_migrations` has every migration pending. It
  waits for a run applying migrations, so that a migration being applied is not read as a failed one.

`psql` is a callable taking a script (psql's input) and returning psql's stdout, raising MigrationError with
psql's message when psql fails; the module gives one running psql through AnsibleModule.run_command.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid

PRISMA_ADVISORY_LOCK = 72707369  # the key prisma migrate uses for PostgreSQL
PSQL_OPTIONS = ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
# A run that finds migrations applied by a concurrent one re-reads the table, at most this many times.
ATTEMPTS = 3

# Prisma's own DDL for its bookkeeping table (schema engine, PostgreSQL flavour).
CREATE_TABLE = """CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
);"""

# The session acts as the database's owner, so that the tables it creates are the gateways' own.
AS_OWNER = [
    "SELECT pg_catalog.pg_get_userbyid(datdba) AS db_owner FROM pg_catalog.pg_database"
    " WHERE datname = current_database() \\gset",
    'SET ROLE :"db_owner";',
]

# Read under the lock too: a migration another run is applying (recorded, not finished yet) must not be read as a
# failed one. Taking the lock changes nothing (check mode reads this way).
READ = "\n".join(
    [
        f"SELECT pg_advisory_lock({PRISMA_ADVISORY_LOCK}) \\gset",
        "SELECT to_regclass('\"_prisma_migrations\"') IS NOT NULL AS present \\gset",
        "\\if :present",
        "SELECT migration_name, finished_at IS NOT NULL, rolled_back_at IS NOT NULL, checksum"
        ' FROM "_prisma_migrations";',
        "\\endif",
        f"SELECT pg_advisory_unlock({PRISMA_ADVISORY_LOCK}) \\gset",
    ]
)

# The error of a failed migration, in its row's `logs` (psql variables m_name, m_logs).
RECORD_FAILURE = (
    "UPDATE \"_prisma_migrations\" SET logs = :'m_logs' WHERE migration_name = :'m_name'"
    " AND finished_at IS NULL AND rolled_back_at IS NULL;"
)


class MigrationError(Exception):
    """A failure, its message naming what failed; `applied` holds what this run applied before it."""

    def __init__(self, message, applied=()):
        super().__init__(message)
        self.applied = list(applied)


def psql_argument(text):
    """TEXT as a single-quoted argument of a psql meta-command, where psql reads C-like escapes: the values go into
    psql variables (`\\set NAME 'value'`) that the SQL reads as `:'NAME'`, quoted by psql itself."""
    escaped = text.replace("\\", "\\\\").replace("'", "''").replace("\n", "\\n").replace("\r", "\\r")
    return "'" + escaped + "'"


def psql_set(name, value):
    """The psql line setting variable NAME to VALUE."""
    return f"\\set {name} {psql_argument(value)}"


def migrations(directory):
    """[(name, path, checksum)] in name order: every folder of DIRECTORY holding a migration.sql."""
    if not os.path.isdir(directory):
        raise MigrationError(f"the migrations directory {directory} does not exist")
    found = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name, "migration.sql")
        if os.path.isfile(path):
            with open(path, "rb") as f:
                found.append((name, path, hashlib.sha256(f.read()).hexdigest()))
    if not found:
        raise MigrationError(f"no <name>/migration.sql under {directory}")
    return found


def parse_recorded(out):
    """{name: [(finished, rolled_back, checksum)]}, a state per attempt, from psql's unaligned rows of READ."""
    rows = {}
    for line in out.splitlines():
        if line:
            name, finished, rolled_back, checksum = line.rsplit("|", 3)
            rows.setdefault(name, []).append((finished == "t", rolled_back == "t", checksum))
    return rows


def recorded(psql):
    """What `_prisma_migrations` holds ({} when it does not exist); creates nothing."""
    return parse_recorded(psql(READ + "\n"))


def finished(rows):
    """The names recorded as applied, in name order."""
    return sorted(name for name, states in rows.items() if any(state[0] for state in states))


def failed(rows):
    """The names recorded as started and neither finished nor rolled back: Prisma's failed migrations."""
    return sorted(
        name
        for name, states in rows.items()
        if not any(state[0] for state in states) and any(not state[1] for state in states)
    )


def plan(all_migrations, rows):
    """The migrations still to apply; MigrationError naming the first failed one that blocks the way."""
    pending = []
    blocked = failed(rows)
    if blocked:
        raise MigrationError(
            f"migration {blocked[0]} failed in an earlier run (recorded without finished_at in _prisma_migrations);"
            " fix the database and resolve it (prisma migrate resolve --applied or --rolled-back"
            f" {blocked[0]}) before applying more"
        )
    done = set(finished(rows))
    for name, path, checksum in all_migrations:
        if name not in done:
            pending.append((name, path, checksum))
    return pending


def apply_script(pending, ids):
    """psql's input applying PENDING under Prisma's advisory lock, as the database's owner, recording each under
    its id in IDS (name -> uuid).

    Before each migration it checks that no concurrent run took it meanwhile; if one did, it prints CONCURRENT and
    quits (the lock goes with the session) so that the caller re-reads the table.
    """
    lines = [*AS_OWNER, f"SELECT pg_advisory_lock({PRISMA_ADVISORY_LOCK});", CREATE_TABLE]
    for name, path, checksum in pending:
        lines += [
            psql_set("m_id", ids[name]),
            psql_set("m_name", name),
            psql_set("m_checksum", checksum),
            "SELECT count(*) > 0 AS taken FROM \"_prisma_migrations\" WHERE migration_name = :'m_name'"
            " AND rolled_back_at IS NULL \\gset",
            "\\if :taken",
            "\\echo CONCURRENT",
            "\\quit",
            "\\endif",
            'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count)'
            " VALUES (:'m_id', :'m_checksum', :'m_name', now(), 0);",
            f"\\i {psql_argument(path)}",
            "UPDATE \"_prisma_migrations\" SET finished_at = now(), applied_steps_count = 1 WHERE id = :'m_id';",
        ]
    lines.append(f"SELECT pg_advisory_unlock({PRISMA_ADVISORY_LOCK});")
    return "\n".join(lines) + "\n"


def applied_by(psql, ids):
    """The names this run applied: those recorded as finished under its own ids (IDS: name -> uuid)."""
    out = psql('SELECT id, migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL;\n')
    mine = set(ids.values())
    rows = (line.split("|", 1) for line in out.splitlines() if line)
    return sorted(name for mid, name in rows if mid in mine)


def record_failure(psql, name, error):
    """Write ERROR into the failed NAME's `logs`, as Prisma does (best effort: the failure is reported anyway)."""
    with contextlib.suppress(MigrationError):
        psql("\n".join([psql_set("m_name", name), psql_set("m_logs", error), RECORD_FAILURE]) + "\n")


def run(psql, directory, check=False):
    """Apply (or, with CHECK, only list) the migrations of DIRECTORY not yet applied.

    Returns {changed, applied, pending, before, after}: `applied` what this run applied, `before`/`after` the names
    recorded as applied before and after (in check mode, what they would be). Raises MigrationError naming what
    failed.
    """
    all_migrations = migrations(directory)
    try:
        rows = recorded(psql)
    except MigrationError as e:
        # A check before the state host's first deploy: the database is not created yet, every migration is pending.
        if not (check and "does not exist" in str(e) and "FATAL" in str(e)):
            raise
        rows = {}
    before = finished(rows)
    applied = []
    for _attempt in range(ATTEMPTS):
        pending = plan(all_migrations, rows)
        names = [migration[0] for migration in pending]
        if check or not pending:
            after = sorted(set(finished(rows)) | (set(names) if check else set()))
            return {"changed": bool(applied), "applied": applied, "pending": names, "before": before, "after": after}
        ids = {name: str(uuid.uuid4()) for name in names}
        try:
            out = psql(apply_script(pending, ids))
        except MigrationError as e:
            applied = sorted(applied + applied_by(psql, ids))
            broken = [name for name in failed(recorded(psql)) if name in ids]
            if broken:
                record_failure(psql, broken[0], str(e))
                raise MigrationError(
                    f"migration {broken[0]} failed, and stays recorded as failed in _prisma_migrations: {e}", applied
                ) from e
            raise MigrationError(str(e), applied) from e
        applied = sorted(applied + applied_by(psql, ids))
        rows = recorded(psql)
        if "CONCURRENT" not in out.split():
            return {
                "changed": bool(applied),
                "applied": applied,
                "pending": [],
                "before": before,
                "after": finished(rows),
            }
    raise MigrationError("other runs kept applying migrations concurrently; try again", applied)
