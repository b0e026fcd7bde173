#!/usr/bin/env python3
"""Apply LiteLLM's SQL migrations to PostgreSQL with psql, keeping Prisma's `_prisma_migrations` bookkeeping true.

LiteLLM ships its schema history as plain SQL (litellm_proxy_extras/migrations/<name>/migration.sql). Prisma's
`migrate deploy` would apply them, but it needs the native schema engine, which no registry reachable here has.
This applies the same files, in name order, with `psql -v ON_ERROR_STOP=1`, and records each one in
`_prisma_migrations` as `prisma migrate deploy` does (id, checksum = sha256 of the file, migration_name,
started_at, finished_at, applied_steps_count = 1), so that a later `prisma migrate deploy` or LiteLLM's own
start-up check sees them as applied.

- Idempotent: a migration already recorded as finished is skipped; a second run changes nothing.
- One run at a time: the whole run holds Prisma's own advisory lock (72707369), so it also waits for, or
  blocks, a concurrent `prisma migrate deploy`.
- A failed migration stays recorded with no finished_at (as Prisma records it); the run stops there with
  exit code 1, and later runs refuse to go on until an operator resolves it (Prisma's P3009).
- The database URL comes from the environment (DATABASE_URL, or the variable named by --url-env), never from
  the command line; psql gets it as PG* environment variables.

    DATABASE_URL=postgresql://user:pass@host:5432/db \
        python3 migrate.py --migrations-dir .../litellm_proxy_extras/migrations [--check]

Prints one JSON object: {"applied": [...], "pending": [...], "changed": bool}. --check reports the pending
migrations without applying them (exit 0).
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit

PRISMA_ADVISORY_LOCK = 72707369  # the key prisma migrate uses for PostgreSQL

# Prisma's own DDL for its bookkeeping table (schema engine, PostgreSQL flavour).
CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
);
"""


class MigrationError(Exception):
    pass


def pg_env(url):
    """libpq's environment for URL (postgresql://user:password@host:port/db?sslmode=...)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
        raise MigrationError("the database URL is not a postgresql://user@host/db URL")
    env = {
        "PGHOST": parts.hostname,
        "PGPORT": str(parts.port or 5432),
        "PGDATABASE": unquote(parts.path.lstrip("/")) or "postgres",
    }
    if parts.username:
        env["PGUSER"] = unquote(parts.username)
    if parts.password:
        env["PGPASSWORD"] = unquote(parts.password)
    for item in parts.query.split("&"):
        key, _, value = item.partition("=")
        if key == "sslmode":
            env["PGSSLMODE"] = unquote(value)
    return env


def psql(env, script, psql_bin="psql"):
    """Run SCRIPT through one psql session (stdin); its stdout, or MigrationError with psql's message."""
    argv = [psql_bin, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
    proc = subprocess.run(
        argv,
        input=script,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=1800,
        check=False,
    )
    if proc.returncode != 0:
        raise MigrationError(f"psql exited with {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def literal(text):
    return "'" + text.replace("'", "''") + "'"


def migrations(directory):
    """[(name, path, checksum)] in name order: every folder holding a migration.sql."""
    found = sorted(p for p in Path(directory).iterdir() if (p / "migration.sql").is_file())
    if not found:
        raise MigrationError(f"no <name>/migration.sql under {directory}")
    return [
        (p.name, p / "migration.sql", hashlib.sha256((p / "migration.sql").read_bytes()).hexdigest()) for p in found
    ]


def recorded(env, psql_bin):
    """{name: (finished, rolled_back, checksum)} from _prisma_migrations (created if missing)."""
    out = psql(
        env,
        CREATE_TABLE + "SELECT migration_name, finished_at IS NOT NULL, rolled_back_at IS NOT NULL, checksum "
        'FROM "_prisma_migrations";\n',
        psql_bin,
    )
    rows = {}
    for line in out.splitlines():
        if line:
            name, finished, rolled_back, checksum = line.split("|")
            rows.setdefault(name, []).append((finished == "t", rolled_back == "t", checksum))
    return rows


def plan(all_migrations, rows):
    """The migrations still to apply; MigrationError when a failed one blocks the way."""
    pending = []
    for name, path, checksum in all_migrations:
        states = [row for row in rows.get(name, []) if not row[1]]  # rolled-back attempts do not count
        if any(finished for finished, _, _ in states):
            continue
        if states:
            raise MigrationError(
                f"migration {name} failed in an earlier run (recorded without finished_at in _prisma_migrations);"
                " resolve it (prisma migrate resolve) before applying more"
            )
        pending.append((name, path, checksum))
    return pending


def apply(env, pending, psql_bin):
    """Apply PENDING in one psql session under Prisma's advisory lock, recording each in _prisma_migrations."""
    lines = [f"SELECT pg_advisory_lock({PRISMA_ADVISORY_LOCK});"]
    for name, path, checksum in pending:
        mid = str(uuid.uuid4())
        # Another run may have applied it while this one waited for the lock: then stop, and let the caller
        # re-read the table.
        lines += [
            f'SELECT count(*) > 0 AS taken FROM "_prisma_migrations" WHERE migration_name = {literal(name)}'
            " AND rolled_back_at IS NULL \\gset",
            "\\if :taken",
            "\\echo CONCURRENT",
            "\\quit",
            "\\endif",
            'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count)'
            f" VALUES ({literal(mid)}, {literal(checksum)}, {literal(name)}, now(), 0);",
            f"\\i {literal(str(path))}",
            f'UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = {literal(mid)};',
        ]
    lines.append(f"SELECT pg_advisory_unlock({PRISMA_ADVISORY_LOCK});")
    return "CONCURRENT" not in psql(env, "\n".join(lines) + "\n", psql_bin).split()


def run(url, directory, check=False, psql_bin="psql"):
    env = pg_env(url)
    all_migrations = migrations(directory)
    applied = []
    for _ in range(3):  # a concurrent run can make this one stop early; re-read and go on, a bounded number of times
        pending = plan(all_migrations, recorded(env, psql_bin))
        if check or not pending:
            return {"applied": applied, "pending": [name for name, _, _ in pending], "changed": bool(applied)}
        finished = apply(env, pending, psql_bin)
        done = recorded(env, psql_bin)
        applied += [name for name, _, _ in pending if any(row[0] for row in done.get(name, []))]
        if finished:
            return {"applied": applied, "pending": [], "changed": bool(applied)}
    raise MigrationError("other runs kept applying migrations concurrently; try again")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--migrations-dir", required=True, help="litellm_proxy_extras/migrations")
    parser.add_argument("--url-env", default="DATABASE_URL", help="the environment variable holding the URL")
    parser.add_argument("--psql", default="psql", help="the psql program")
    parser.add_argument("--check", action="store_true", help="report what is pending, change nothing")
    args = parser.parse_args(argv)
    url = os.environ.get(args.url_env)
    if not url:
        print(f"migrate.py: {args.url_env} is not set", file=sys.stderr)
        return 2
    try:
        result = run(url, args.migrations_dir, check=args.check, psql_bin=args.psql)
    except MigrationError as e:
        print(f"migrate.py: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
