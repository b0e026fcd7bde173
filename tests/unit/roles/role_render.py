"""Render a role's templates and run its checks on localhost as Ansible does, without touching any host.

One ansible-playbook run handles a whole batch of cases: each case is a task with its own inventory-like
variables (task vars), over the role's defaults/main.yml and vars/main.yml. Templates are rendered by the
`template` lookup, which uses the same engine, options and template variables (`ansible_managed`, ...) as
the `template` module; everything runs in the controller process (no module is executed, nothing is
written), so a batch takes a few seconds. Results come back through the ansible.posix.json callback.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = REPO / ".venv" / "bin" / "ansible-playbook"


def _role_play(role, tasks):
    root = REPO / "roles" / role
    return {
        "name": f"{role} cases",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        # The role's defaults and vars; each case's variables (task or block vars) take precedence over
        # both, as inventory variables take precedence over role defaults.
        "vars_files": [str(root / "defaults" / "main.yml"), str(root / "vars" / "main.yml")],
        "vars": {"ansible_python_interpreter": sys.executable},
        "tasks": tasks,
    }


def run_playbook(plays, workdir):
    """Run `plays` on localhost; return {task name: localhost's result}. Fails the test if the run fails."""
    playbook = pathlib.Path(workdir) / "play.json"
    playbook.write_text(json.dumps(plays))
    result = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", "localhost,", str(playbook)],
        cwd=REPO,
        env={**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"},
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report = json.loads(result.stdout)
    except ValueError:
        report = None
    if result.returncode != 0:
        failed = [
            f"{task['task']['name']}: {task['hosts']['localhost'].get('msg')}"
            for play in (report or {"plays": []})["plays"]
            for task in play["tasks"]
            if task["hosts"].get("localhost", {}).get("failed")
        ]
        raise AssertionError("\n".join(failed) or (result.stdout[-4000:] + result.stderr[-2000:]))
    return {
        task["task"]["name"]: task["hosts"]["localhost"]
        for play in report["plays"]
        for task in play["tasks"]
        if "localhost" in task["hosts"]
    }


def render(role, cases, workdir):
    """Render templates of `role`: cases maps a case id to (template file name, variables).

    Returns {case id: rendered text}.
    """
    tasks = [
        {
            "name": f"Render {case_id}",
            "ansible.builtin.debug": {
                "msg": "{{ lookup('ansible.builtin.template', '%s') }}"
                % (REPO / "roles" / role / "templates" / template)
            },
            "vars": variables,
        }
        for case_id, (template, variables) in cases.items()
    ]
    results = run_playbook([_role_play(role, tasks)], workdir)
    return {case_id: results[f"Render {case_id}"]["msg"] for case_id in cases}


def failures(role, task_file, cases, workdir):
    """Run tasks/<task_file> of `role` once per case (cases maps a case id to variables).

    Returns {case id: the failure message, or None when the tasks passed}. Only for task files whose
    tasks run on the controller (fail, assert, set_fact, ...).
    """
    tasks = [
        {
            "name": f"Case {case_id}",
            "vars": variables,
            "block": [{"ansible.builtin.import_tasks": str(REPO / "roles" / role / "tasks" / task_file)}],
            "rescue": [
                {"name": f"Failed {case_id}", "ansible.builtin.debug": {"msg": "{{ ansible_failed_result.msg }}"}}
            ],
        }
        for case_id, variables in cases.items()
    ]
    results = run_playbook([_role_play(role, tasks)], workdir)
    return {case_id: results.get(f"Failed {case_id}", {}).get("msg") for case_id in cases}
