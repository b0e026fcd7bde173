"""What the test suites share: the checkout's paths and small utilities.

`tests`, `tests/servers` and `build/collections` are on pytest's `pythonpath` (pyproject.toml), so every
suite imports `helpers`, the loopback servers and this tree as the `tailnet.llm` collection without
path edits.
"""

import socket
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COLLECTIONS = REPO / "build" / "collections"


def free_port(host="127.0.0.1"):
    """A TCP port nothing listens on right now, on HOST."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
