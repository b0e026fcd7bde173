"""Make this checkout importable as the tailnet.llm collection for Ansible's plugin loaders, for every suite.

Ansible's collection loader must be in place before anything imports `ansible_collections` (the testinfra
suite imports the collection's plugin_utils, and templates with its filters).
"""

import contextlib
import os

from ansible.plugins.loader import init_plugin_loader
from helpers import COLLECTIONS, REPO

LINK = COLLECTIONS / "ansible_collections" / "tailnet" / "llm"


def pytest_configure(config):
    if not LINK.exists():
        LINK.parent.mkdir(parents=True, exist_ok=True)
        # pytest-xdist's workers (make unit, make integration) configure at once: one of them makes the link
        with contextlib.suppress(FileExistsError):
            LINK.symlink_to(os.path.relpath(REPO, LINK.parent))
    init_plugin_loader([str(COLLECTIONS)])
