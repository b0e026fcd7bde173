"""Real parts for LiteLLM's database mode on loopback: a throw-away PostgreSQL cluster, LiteLLM's migrations, the
Prisma client generated for LiteLLM's schema, and the query engine adapter (tests/lab/prisma-engine).

- PostgreSQL: Debian's server binaries (`apt-get install postgresql`), a fresh cluster in a temporary directory
  (initdb, run as the `postgres` user when the tests run as root), listening on 127.0.0.1 at a free port only.
- LiteLLM's migrations are applied by the collection's module (tailnet.llm._litellm_migrations), run by
  ansible-playbook as the roles run it.
- The adapter's npm packages are installed from package-lock.json (`npm ci --ignore-scripts`) when missing.
- The Prisma client for LiteLLM's schema is generated into a temporary directory (prisma-client-python's
  `output`), which LiteLLM imports first through PYTHONPATH: the shared litellm venv is never written to.
  `prisma generate` runs offline: the Prisma CLI comes from the adapter's own pinned packages
  (PRISMA_BINARY_CACHE_DIR), and the engine paths it insists on point at the adapter's launcher.
"""

import contextlib
import fcntl
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import helpers
import loopback
import pytest

ENGINE_DIR = helpers.REPO / "tests" / "lab" / "prisma-engine"
SITE = next((loopback.VENVS / "litellm" / "lib").glob("python3*/site-packages"), None)
PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))


@pytest.fixture(scope="session")
def litellm_site():
    """The litellm venv's site-packages."""
    loopback.venv_bin("litellm", "litellm")  # raises when the venv is not built
    return SITE


class Migrations:
    """One ansible-playbook run of tailnet.llm._litellm_migrations: its exit code, each host's result, its output."""

    def __init__(self, returncode, results, output):
        self.returncode = returncode
        self.results = results
        self.output = output

    @property
    def result(self):
        """The result of the only host."""
        (only,) = self.results.values()
        return only


@pytest.fixture(scope="session")
def migrate(postgres, litellm_site, tmp_path_factory):
    """migrate(database, directory=LiteLLM's, check=False, hosts=1): run the module the way Ansible runs it.

    ansible-playbook, with this tree as the collection, on HOSTS local hosts at once (each its own process, so
    several hosts are concurrent runs); psql logs in to the throw-away cluster as its superuser, without a
    password (trust on loopback, as peer on the state host's socket).
    """
    workdir = tmp_path_factory.mktemp("migrate")

    def run(database, directory=None, check=False, hosts=1):
        directory = directory or litellm_site / "litellm_proxy_extras" / "migrations"
        names = [f"migrator{i}" for i in range(hosts)]
        inventory = workdir / f"{database}-inventory.json"
        inventory.write_text(
            json.dumps(
                {
                    "all": {
                        "hosts": {name: {} for name in names},
                        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                    }
                }
            )
        )
        playbook = workdir / f"{database}-play.json"
        task = {
            "name": "Migrate",
            "tailnet.llm._litellm_migrations": {
                "database": database,
                "migrations_dir": str(directory),
                "login_host": "127.0.0.1",
                "login_port": str(postgres.port),
                "login_user": "postgres",
            },
        }
        playbook.write_text(json.dumps([{"hosts": "all", "gather_facts": False, "tasks": [task]}]))
        check_mode = ["--check"] if check else []
        run = helpers.ansible_playbook("-i", inventory, "--forks", hosts, "--diff", *check_mode, playbook)
        results = run.results()
        return Migrations(run.returncode, {host: results[host]["Migrate"] for host in names}, run.output)

    return run


def psql(url_env, sql):
    """Rows of SQL (psql -At) with the libpq environment URL_ENV (PGHOST, PGPORT, PGUSER, PGDATABASE)."""
    proc = subprocess.run(
        ["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
        env={**os.environ, **url_env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line.split("|") for line in proc.stdout.splitlines() if line]


class Postgres:
    """A running throw-away cluster; `database(name)` creates a fresh database and gives its URL."""

    def __init__(self, port, socket_dir):
        self.port = port
        self.socket_dir = socket_dir

    def url(self, name, user="postgres"):
        return f"postgresql://{user}@127.0.0.1:{self.port}/{name}"

    def env(self, name):
        return {"PGHOST": "127.0.0.1", "PGPORT": str(self.port), "PGUSER": "postgres", "PGDATABASE": name}

    def query(self, name, sql):
        """Rows of SQL (psql -At) in database NAME."""
        return psql(self.env(name), sql)

    def database(self, name, owner="postgres"):
        """A new database NAME owned by OWNER (a login role without superuser, created when missing); its URL."""
        if owner != "postgres" and not self.query("postgres", f"SELECT 1 FROM pg_roles WHERE rolname = '{owner}'"):
            psql(self.env("postgres"), f'CREATE ROLE "{owner}" LOGIN')
        psql(self.env("postgres"), f'CREATE DATABASE "{name}" OWNER "{owner}"')
        return self.url(name, owner)


def _as_postgres(argv):
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@pytest.fixture(scope="session")
def postgres():
    if not PG_BIN:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql: apt-get install postgresql")
    bindir = PG_BIN[-1]
    root = Path(tempfile.mkdtemp(prefix="tailnet-llm-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    data = root / "data"
    port = helpers.free_port()
    subprocess.run(
        _as_postgres(
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "postgres.log")]
    subprocess.run(_as_postgres([*pg_ctl, "-o", options, "-w", "-t", "60", "start"]), check=True, timeout=90)
    try:
        yield Postgres(port, root)
    finally:
        subprocess.run(_as_postgres([*pg_ctl, "-m", "fast", "-w", "-t", "30", "stop"]), check=False, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def engine_packages():
    """The adapter's node_modules, installed from package-lock.json when missing."""
    if not shutil.which("node") or not shutil.which("npm"):
        raise RuntimeError("node and npm are needed for the query engine adapter: apt-get install nodejs npm")
    # one npm ci at a time: pytest-xdist's workers (make integration) may both need the packages
    with open(ENGINE_DIR / "package-lock.json") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (ENGINE_DIR / "node_modules" / ".package-lock.json").exists():
            subprocess.run(
                ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=ENGINE_DIR, check=True, timeout=600
            )
    return ENGINE_DIR


@pytest.fixture(scope="session")
def prisma_client(engine_packages, litellm_site, tmp_path_factory):
    """(PYTHONPATH holding the generated `prisma` package, its schema.prisma, the engine launcher)."""
    site = litellm_site
    root = tmp_path_factory.mktemp("prisma-client")
    launcher = root / "query-engine"
    launcher.write_text(f'#!/bin/sh\nexec node "{engine_packages / "engine.js"}" "$@"\n')
    launcher.chmod(0o755)
    schema = (site / "litellm" / "proxy" / "schema.prisma").read_text()
    marker = 'provider = "prisma-client-py"'
    assert marker in schema, "LiteLLM's schema.prisma has no prisma-client-py generator"
    (root / "schema.prisma").write_text(schema.replace(marker, f'{marker}\n  output = "{root / "prisma"}"', 1))
    env = {
        **os.environ,
        "PRISMA_BINARY_CACHE_DIR": str(engine_packages),
        "PRISMA_QUERY_ENGINE_BINARY": str(launcher),
        "PRISMA_SCHEMA_ENGINE_BINARY": str(launcher),
        "PRISMA_HIDE_UPDATE_MESSAGE": "true",
        "PATH": f"{loopback.VENVS / 'litellm' / 'bin'}:{os.environ['PATH']}",
        "DATABASE_URL": "postgresql://unused@127.0.0.1/unused",
    }
    subprocess.run(
        [loopback.venv_bin("litellm", "prisma"), "generate", "--schema", str(root / "schema.prisma")],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return root, root / "prisma" / "schema.prisma", launcher


@pytest.fixture(scope="session")
def engine_adapter():
    """engine_adapter(launcher, dml_path, database_url, workdir): a context manager running the adapter."""
    return _adapter


@contextlib.contextmanager
def _adapter(launcher, dml_path, database_url, workdir):
    """The adapter on a free loopback port, as prisma-client-python starts it; yields (port, seconds to /status)."""
    port = helpers.free_port()
    env = {"PRISMA_DML_PATH": str(dml_path), "DATABASE_URL": database_url}
    argv = [str(launcher), "-p", str(port), "--enable-metrics", "--enable-raw-queries"]
    started = time.monotonic()
    with loopback.running("query-engine", argv, port, "/status", workdir, env):
        yield port, time.monotonic() - started


@pytest.fixture(scope="session")
def callers_gateway(postgres, migrate, prisma_client):
    """callers_gateway(workdir, clients, teams, master, database=NAME): a context manager running the real LiteLLM with
    config.yaml, clients.json and the hook rendered by the litellm role's templates, for the client hosts CLIENTS
    (host -> its variables) and the teams TEAMS (llm_teams), in front of a loopback backend serving the priced model
    `lab/priced` (1 USD a token: an answer of 1 prompt and 1 completion token costs 2 USD). With DATABASE (a fresh
    database, migrated) the gateway runs in database mode; with None, without a database. Yields its port."""
    return functools.partial(_callers_gateway, postgres, migrate, prisma_client)


@contextlib.contextmanager
def _callers_gateway(postgres, migrate, prisma_client, workdir, clients, teams, master, database=None):
    from ansible_collections.tailnet.llm.plugins.plugin_utils.budgets import gateway_budgets
    from ansible_collections.tailnet.llm.plugins.plugin_utils.clients import gateway_clients

    backend, port = helpers.free_port(), helpers.free_port()
    fast = [sys.executable, str(helpers.REPO / "tests/servers/fast_openai.py"), "--port", str(backend), "--model", "m"]
    priced = {"id": "m", "alias": "lab/priced", "input_cost_per_token": 1.0, "output_cost_per_token": 1.0}
    litellm_clients = gateway_clients({"llm_clients": list(clients)}, clients)
    variables = {
        "litellm_backends": [{"name": "fast", "host": "127.0.0.1", "port": backend, "models": [priced]}],
        "litellm_clients": litellm_clients,
        "litellm_budgets": gateway_budgets(litellm_clients, clients, teams),
        "litellm_database_host": "127.0.0.1" if database else "",
        "litellm_database_migrate": True,
        "litellm_env_secrets": {"LITELLM_MASTER_KEY": master},
    }
    helpers.gateway_files(variables, workdir)
    env = {"LITELLM_MASTER_KEY": master, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    if database:
        url = postgres.database(database)
        assert migrate(database).returncode == 0
        pythonpath, _, launcher = prisma_client
        env.update(
            DATABASE_URL=url,
            PRISMA_QUERY_ENGINE_BINARY=str(launcher),
            PYTHONPATH=str(pythonpath),
            DISABLE_SCHEMA_UPDATE="true",
        )
    with (
        loopback.running("fast", fast, backend, "/v1/models", workdir),
        loopback.litellm_with_config(workdir / "config.yaml", env, workdir, port=port),
    ):
        yield port
