#!/usr/bin/python
# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: _litellm_migrations
short_description: Apply LiteLLM's SQL migrations to PostgreSQL, keeping Prisma's bookkeeping (internal)
description:
  - Internal to the role tailnet.llm.litellm (C(tasks_from=migrate)); its interface may change.
  - Applies LiteLLM's schema migrations, a directory of C(<name>/migration.sql) as the C(litellm_proxy_extras)
    package ships them, in name order with C(psql -v ON_ERROR_STOP=1), and records each in C(_prisma_migrations) as
    C(prisma migrate deploy) does (checksum = SHA-256 of the file, C(finished_at), C(applied_steps_count) 1), so
    that LiteLLM's Prisma sees them as applied.
  - Idempotent; a migration recorded as applied is skipped. Applying holds Prisma's advisory lock (72707369), so
    concurrent runs (and a concurrent C(prisma migrate deploy)) apply each migration once.
  - A failed migration stays recorded without C(finished_at), its error in C(logs), as Prisma records it; the run
    fails naming it, and every later run fails naming it until an operator resolves it
    (C(prisma migrate resolve)).
  - The tables belong to the database's owner (the gateways' user); the session applies the SQL as that role,
    whoever logs in.
  - Connects with psql as the user the module runs as (C(become_user=postgres)) over the local socket, with peer
    authentication; no password is ever given. O(login_host) and O(login_port) point it elsewhere (tests).
version_added: 0.1.0
options:
  database:
    description: The database to migrate.
    type: str
    required: true
  migrations_dir:
    description: The directory of C(<name>/migration.sql) folders (C(litellm_proxy_extras/migrations)).
    type: path
    required: true
  login_host:
    description: Host or socket directory to connect to; empty is libpq's default, the local socket.
    type: str
    default: ""
  login_port:
    description: Port to connect to; empty is libpq's default (5432).
    type: str
    default: ""
  login_user:
    description: Role to log in as; empty is the user the module runs as.
    type: str
    default: ""
attributes:
  check_mode:
    support: full
    description:
      - Reads C(_prisma_migrations) and lists what is pending; creates and applies nothing.
      - A database that does not exist yet (a check before the state host's first deploy) has every migration
        pending.
  diff_mode:
    support: full
    description: The names of the applied migrations before and after.
requirements:
  - psql (PostgreSQL's client) on the host.
author:
  - tailnet.llm maintainers (@tailnet-llm)
"""

EXAMPLES = r"""
- name: Apply LiteLLM's migrations to the gateways' database
  tailnet.llm._litellm_migrations:
    database: litellm
    migrations_dir: /tmp/litellm-migrations/migrations
  become: true
  become_user: postgres
"""

RETURN = r"""
applied:
  description: The migrations this run applied, in name order.
  returned: always
  type: list
  elements: str
pending:
  description: The migrations not applied yet (in check mode, those a run would apply; else empty).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.tailnet.llm.plugins.module_utils.litellm_migrations import (  # noqa: E402
    PSQL_OPTIONS,
    MigrationError,
    run,
)

ARGUMENT_SPEC = {
    "database": {"type": "str", "required": True},
    "migrations_dir": {"type": "path", "required": True},
    "login_host": {"type": "str", "default": ""},
    "login_port": {"type": "str", "default": ""},
    "login_user": {"type": "str", "default": ""},
}


def psql_runner(module):
    """A callable running one psql session on its stdin, as module.params say, returning its stdout."""
    argv = [module.get_bin_path("psql", required=True), *PSQL_OPTIONS]
    # libpq's environment, not the command line; no password: peer (or trust) authentication.
    env = {"PGDATABASE": module.params["database"], "PGAPPNAME": "tailnet.llm migrations", "PGCONNECT_TIMEOUT": "30"}
    for option, variable in (("login_host", "PGHOST"), ("login_port", "PGPORT"), ("login_user", "PGUSER")):
        if module.params[option]:
            env[variable] = module.params[option]

    def psql(script):
        rc, out, err = module.run_command(argv, data=script, binary_data=True, environ_update=env, cwd="/")
        if rc != 0:
            raise MigrationError(f"psql exited with {rc}: {err.strip()[-2000:]}")
        return out

    return psql


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    try:
        result = run(psql_runner(module), params["migrations_dir"], check=module.check_mode)
    except MigrationError as e:
        module.fail_json(msg=f"database {params['database']}: {e}", applied=e.applied, pending=[])
    diff = {key: "".join(f"{name}\n" for name in result[key]) for key in ("before", "after")}
    # In check mode, pending migrations are the change a run would make.
    changed = result["changed"] or bool(module.check_mode and result["pending"])
    module.exit_json(changed=changed, applied=result["applied"], pending=result["pending"], diff=diff)


if __name__ == "__main__":
    main()
