"""Make this checkout importable as the tailnet.llm collection for Ansible's plugin loaders."""

import os
import pathlib

import pytest
from ansible.plugins.loader import init_plugin_loader

REPO = pathlib.Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / "build" / "collections"
LINK = COLLECTIONS / "ansible_collections" / "tailnet" / "llm"


def pytest_configure(config):
    if not LINK.exists():
        LINK.parent.mkdir(parents=True, exist_ok=True)
        LINK.symlink_to(os.path.relpath(REPO, LINK.parent))
    init_plugin_loader([str(COLLECTIONS)])


@pytest.fixture(scope="session")
def repo():
    return REPO
