"""Run the real `ask` client (roles/ask_cli/files/ask) as a subprocess, through its own shebang,
or with the interpreter that ASK_TEST_PYTHON names (e.g. a Python 3.9, the oldest it supports)."""

import os
import subprocess

from helpers import REPO

ASK = REPO / "roles" / "ask_cli" / "files" / "ask"


def clean_env(home, **extra):
    """An environment with no ASK_* settings from this machine and a private HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASK_", "XDG_CONFIG"))}
    env.update(HOME=str(home), LANG="C.UTF-8")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def command():
    """How to start ask: its shebang, or `$ASK_TEST_PYTHON -IS ask`."""
    python = os.environ.get("ASK_TEST_PYTHON")
    return [python, "-IS", str(ASK)] if python else [str(ASK)]


def run(args, env, stdin=None, timeout=120):
    """`ask ARGS` with stdin from a string (or /dev/null); returns the CompletedProcess (text)."""
    return subprocess.run(
        [*command(), *args],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
