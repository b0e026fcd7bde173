"""The policy fixtures parse as an independent HuJSON reader reads them: the Tailscale API stand-in's own
(tests/servers/tailscale_api.py, this repository's only) and the collection's (plugins/module_utils/hujson.py)."""

import pytest
from ansible_collections.tailnet.llm.plugins.module_utils.hujson import loads
from helpers import REPO
from tailscale_api import parse_hujson

POLICIES = sorted((REPO / "tests/unit/plugins/module_utils/policies").iterdir())


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_both_readers_agree(path):
    text = path.read_bytes().decode()
    assert loads(text) == parse_hujson(text)
    assert loads(text.replace("\n", "\r\n")) == parse_hujson(text)
