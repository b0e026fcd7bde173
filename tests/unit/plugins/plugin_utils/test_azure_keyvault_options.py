"""_azure_keyvault_options: what the lookup accepts as terms and vault URLs (the errors: tests/unit/plugins/lookup)."""

import pytest
from ansible.errors import AnsibleError
from ansible_collections.tailnet.llm.plugins.plugin_utils import _azure_keyvault_options as options

GOOD = {"auth": "auto", "max_concurrency": 1, "retries": 0, "timeout": 0.5}


@pytest.mark.parametrize(
    ("term", "parsed"),
    [
        pytest.param("hf-token", ("hf-token", None), id="name"),
        pytest.param("a" * 127, ("a" * 127, None), id="longest-name"),
        pytest.param("hf-token/" + "0A" * 16, ("hf-token", "0A" * 16), id="name-and-version"),
    ],
)
def test_parse_term(term, parsed):
    assert options.parse_term(term) == parsed


@pytest.mark.parametrize("url", ["https://kv.vault.azure.net", "https://kv.vault.azure.net/", "https://127.0.0.1:8443"])
def test_vault_url_without_trailing_slash(url):
    assert options.check_options({**GOOD, "vault_url": url}) == url.rstrip("/")


def test_auth_is_checked_before_the_vault_url():
    with pytest.raises(AnsibleError, match="auth='msi' is not one of auto, cli, service_principal"):
        options.check_options({**GOOD, "auth": "msi"})
