"""The internal role tailnet.llm.compose_service: its systemd unit, and its refusal to run outside a service role."""

import helpers
import pytest
from helpers import failures, render

SERVICE = {
    "compose_service_name": "litellm",
    "compose_service_description": "LiteLLM gateway",
    "compose_service_dir": "/flux/apps/litellm",
    "compose_service_after": ["vllm"],
    "compose_service_restart_sec": 3,
    "compose_service_stop_timeout": 30,
    "__compose_service_compose": "/opt/podman-compose/bin/podman-compose",
}


@pytest.fixture(scope="module")
def unit(tmp_path_factory):
    text = render("compose_service", {"unit": ("compose.service.j2", SERVICE)}, tmp_path_factory.mktemp("unit"))["unit"]
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Description", "LiteLLM gateway (podman-compose project in /flux/apps/litellm)"),
        ("After", "network-online.target vllm.service"),
        ("WorkingDirectory", "/flux/apps/litellm"),
        ("ExecStartPre", "-/opt/podman-compose/bin/podman-compose --project-name litellm down"),
        ("ExecStart", "/opt/podman-compose/bin/podman-compose --project-name litellm up"),
        ("ExecStop", "/opt/podman-compose/bin/podman-compose --project-name litellm down"),
        ("Restart", "always"),
        ("RestartSec", "3"),
        ("TimeoutStopSec", "30"),
        ("WantedBy", "multi-user.target"),
    ],
)
def test_unit(unit, key, value):
    assert unit[key] == value


def test_a_playbook_cannot_run_it_directly(tmp_path):
    message = failures("compose_service", "install.yml", {"direct": SERVICE}, tmp_path)["direct"]
    assert message == "tailnet.llm.compose_service is internal to the service roles (vllm, litellm); use those."


def _written(changed, restart=None):
    """A template's result as compose_service registers it (restart: the entry's flag, when it gives one)."""
    item = {"src": "f.j2", "dest": "f"} | ({} if restart is None else {"restart": restart})
    return {"changed": changed, "item": item}


@pytest.mark.parametrize(
    ("env", "unit", "files", "restart"),
    [
        (False, False, [_written(False), _written(False, restart=False)], False),
        (False, False, [_written(False), _written(True, restart=False)], False),
        (False, False, [_written(True), _written(True, restart=False)], True),
        (False, False, [_written(True, restart=True)], True),
        (True, False, [_written(True, restart=False)], True),
        (False, True, [_written(False)], True),
    ],
    ids=["nothing", "a-file-read-again", "a-file-and-a-file-read-again", "restart-true", "env", "unit"],
)
def test_a_change_restarts_unless_only_files_read_again_changed(tmp_path, env, unit, files, restart):
    """__compose_service_restart_needed: the env file, the unit or a template without restart: false that changed
    restarts the service; templates with restart: false alone do not (they are still checked:
    __compose_service_changed)."""
    registered = {
        "__compose_service_env_written": {"changed": env},
        "__compose_service_unit": {"changed": unit},
        "__compose_service_files": {"changed": any(f["changed"] for f in files), "results": files},
    }
    play = {
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars_files": [str(helpers.REPO / "roles/compose_service/vars/main.yml")],
        "tasks": [
            {
                "name": "Decide",
                "ansible.builtin.debug": {"msg": "{{ [__compose_service_restart_needed, __compose_service_changed] }}"},
                "vars": registered,
            }
        ],
    }
    decided = helpers.run_local_plays([play], tmp_path)["Decide"]["msg"]
    assert decided == [restart, env or unit or any(f["changed"] for f in files)]
