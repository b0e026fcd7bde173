"""The unit tests as ansible-test runs them in the installed collection (tests/ansible-test/run.sh).

ansible-test ignores pyproject.toml's pytest settings: tests/ (the one helper module, tests/helpers.py) goes on
sys.path here, and ansible-test's own pytest plugin provides the collection loader that tests/conftest.py sets up
otherwise. It also runs each test in a fork of its own: then helpers.run_local_plays keeps its results for the
session (measured: units took 275 s instead of 80 s, each role test re-running its module's whole batch).
"""

import shutil
import sys
import tempfile
from pathlib import Path

TESTS = str(Path(__file__).resolve().parents[1])
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

import helpers  # noqa: E402  (found through the path above)


def pytest_configure(config):
    if config.pluginmanager.has_plugin("ansible_forked"):
        helpers.PLAYS_CACHE = Path(tempfile.mkdtemp(prefix="tailnet-llm-plays-"))


def pytest_unconfigure(config):
    if helpers.PLAYS_CACHE:
        shutil.rmtree(helpers.PLAYS_CACHE, ignore_errors=True)
