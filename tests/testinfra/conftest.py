"""The fault tests (faults/) kill, stop, reboot, break and revoke what they test: they run with TAILNET_LLM_FAULTS=yes
only (`make test-faults`, `make fault-litellm`, on a lab). Otherwise (`make validate-litellm` on the real hosts, the
stack scenario of `make test`) they are deselected, and asking for them alone is an error."""

import os
from pathlib import Path

import pytest

FAULTS = Path(__file__).parent / "faults"


def pytest_collection_modifyitems(config, items):
    if os.environ.get("TAILNET_LLM_FAULTS") == "yes":
        return
    faults = [item for item in items if FAULTS in item.path.parents]
    if not faults:
        return
    if len(faults) == len(items):
        raise pytest.UsageError(
            "tests/testinfra/faults break services: set TAILNET_LLM_FAULTS=yes to run them (lab only)"
        )
    config.hook.pytest_deselected(items=faults)
    items[:] = [item for item in items if item not in faults]
