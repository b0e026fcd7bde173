"""The litellm role's entry point `migrate` (roles/litellm/tasks/migrate.yml), run by ansible-playbook as a deploy
runs it: the migrations are read from the gateways' image (the lab's LiteLLM image, the release the gateways run),
carried through the controller to the database host and applied there by the cluster's superuser (`postgres`, over
the cluster's socket: PGHOST/PGPORT given as the play's environment, no password).

The gateway, the database host and the controller are all this machine (local connections); podman runs the image.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import helpers
import pytest

IMAGE, TAG = "localhost/tailnet-llm/litellm", "lab"


@pytest.fixture(scope="module")
def lab_image():
    if subprocess.run(["podman", "image", "exists", f"{IMAGE}:{TAG}"], check=False).returncode != 0:
        raise RuntimeError(f"{IMAGE}:{TAG} is not built: tests/lab/images.sh")
    return f"{IMAGE}:{TAG}"


@pytest.fixture(scope="module")
def deploy_step(postgres, lab_image, tmp_path_factory):
    """deploy_step(database, check=False, gateways=None, limit=None): the entry point on the gateways (name ->
    litellm_database_migrate; by default one, `gateway`, that migrates), as a play on llm_gateways; returns
    ({host: {task name: result}}, {host: stats})."""
    workdir = tmp_path_factory.mktemp("migrate-role")
    local = {"ansible_connection": "local", "ansible_become_method": "su"}

    def run(database, check=False, gateways=None, limit=None):
        gateways = gateways or {"gateway": True}
        inventory = workdir / "inventory.json"
        settings = {
            "ansible_python_interpreter": sys.executable,
            "litellm_image": IMAGE,
            "litellm_image_tag": TAG,
            "litellm_image_pull": False,
            "litellm_database_host": "statehost",
            "litellm_database_name": database,
        }
        # The module runs as postgres, which cannot read the controller's venv: the system's Python.
        state = {**local, "ansible_python_interpreter": "/usr/bin/python3"}
        inventory.write_text(
            json.dumps(
                {
                    "all": {"hosts": {"statehost": state}, "vars": local},
                    "llm_gateways": {
                        "hosts": {
                            name: {**settings, "litellm_database_migrate": migrate}
                            for name, migrate in gateways.items()
                        },
                    },
                }
            )
        )
        play = {
            "hosts": "llm_gateways",
            "gather_facts": False,
            "become": True,
            "environment": {"PGHOST": str(postgres.socket_dir), "PGPORT": str(postgres.port)},
            "tasks": [
                {
                    "name": "Migrate",
                    "ansible.builtin.include_role": {"name": "tailnet.llm.litellm", "tasks_from": "migrate"},
                }
            ],
        }
        playbook = workdir / "play.json"
        playbook.write_text(json.dumps([play]))
        options = ["--check"] if check else []
        options += ["--limit", limit] if limit else []
        run = helpers.ansible_playbook("-i", inventory, "--diff", *options, playbook, timeout=600)
        assert run.returncode == 0, "\n".join(run.failures()) or run.output[-6000:]
        stats = run.report["stats"]
        return {
            host: tasks for host, tasks in run.results().items() if host in stats.keys() - {"statehost", "localhost"}
        }, stats

    return run


APPLY = "tailnet.llm.litellm : Apply the image's migrations to the database {}"


def test_the_entry_point_applies_the_images_migrations_once_and_checks_first(postgres, deploy_step, litellm_site):
    shipped = sorted(
        p.parent.name for p in (litellm_site / "litellm_proxy_extras" / "migrations").glob("*/migration.sql")
    )
    postgres.database("role_migrate", owner="litellm")

    # Check mode: the image's migrations listed as pending, nothing created.
    tasks, stats = deploy_step("role_migrate", check=True)
    checked = tasks["gateway"][APPLY.format("role_migrate")]
    assert checked["changed"] is True
    assert checked["pending"] == shipped  # the lab image is the release of build/venvs/litellm
    assert postgres.query("role_migrate", "SELECT to_regclass('_prisma_migrations') IS NULL") == [["t"]]
    assert stats["gateway"]["changed"] == 1

    tasks, stats = deploy_step("role_migrate")
    assert tasks["gateway"][APPLY.format("role_migrate")]["applied"] == shipped
    assert stats["gateway"]["changed"] == 1  # the migrations only: the scratch copies are not changes
    count = postgres.query("role_migrate", 'SELECT count(*) FROM "_prisma_migrations" WHERE finished_at IS NOT NULL')
    assert int(count[0][0]) == len(shipped)

    tasks, stats = deploy_step("role_migrate")
    assert tasks["gateway"][APPLY.format("role_migrate")]["changed"] is False
    assert (stats["gateway"]["changed"], stats["gateway"]["failures"]) == (0, 0)
    # The scratch copies are gone from the gateway, the controller and the database host (here all /tmp).
    assert not list(Path(tempfile.gettempdir()).glob("*.litellm-migrations"))


def _ran(tasks, database):
    """The gateways that ran the step."""
    return sorted(host for host, results in tasks.items() if not results[APPLY.format(database)].get("skipped"))


def test_one_gateway_runs_the_step_the_migrating_one_or_the_first_of_a_limited_run(postgres, deploy_step):
    postgres.database("role_migrate_fleet")
    fleet = {"gw1": True, "gw2": False, "gw3": False}
    tasks, _ = deploy_step("role_migrate_fleet", check=True, gateways=fleet)
    assert _ran(tasks, "role_migrate_fleet") == ["gw1"]
    assert postgres.query("role_migrate_fleet", "SELECT to_regclass('_prisma_migrations') IS NULL") == [["t"]]
    # --limit leaves the migrating gateway out: the run's first gateway migrates, before any of them restarts.
    tasks, _ = deploy_step("role_migrate_fleet", check=True, gateways=fleet, limit="gw2,gw3")
    assert _ran(tasks, "role_migrate_fleet") == ["gw2"]
