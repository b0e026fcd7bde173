"""Every plugin's documentation renders with ansible-doc, as an operator reads it."""

import json
import os
import subprocess

import pytest
from helpers import ANSIBLE_BIN, ANSIBLE_CFG, REPO

# Directory -> ansible-doc's plugin type.
KINDS = {"filter": "filter", "lookup": "lookup", "modules": "module"}
PLUGINS = sorted(
    (KINDS[path.parent.name], path.stem)
    for path in (REPO / "plugins").glob("*/*.py")
    if path.parent.name in KINDS and path.stem != "__init__"
)


@pytest.mark.parametrize(("kind", "name"), PLUGINS)
def test_ansible_doc_renders(kind, name):
    result = subprocess.run(
        [str(ANSIBLE_BIN / "ansible-doc"), "-t", kind, "--json", f"tailnet.llm.{name}"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env={**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE_CFG)},
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)[f"tailnet.llm.{name}"]
    assert doc["doc"]["short_description"]
    assert doc["examples"]
    assert doc["return"]
