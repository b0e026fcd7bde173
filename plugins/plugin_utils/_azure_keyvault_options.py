# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of the tailnet.llm.azure_keyvault lookup's options and terms, made before any request.

Internal to this collection (like the other `_azure_keyvault_*` modules): the interfaces may change in any release.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ansible.errors import AnsibleError
from ansible_collections.tailnet.llm.plugins.plugin_utils._azure_keyvault_credentials import AUTH_METHODS

_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")
_VERSION = re.compile(r"^[0-9A-Fa-f]{32}$")
_AT_LEAST = (("max_concurrency", 1), ("retries", 0))


def parse_term(term):
    """Split 'name' or 'name/version' into (name, version or None); raise AnsibleError on a bad term."""
    if not isinstance(term, str):
        raise AnsibleError(
            f"azure_keyvault: term {term!r} is a {type(term).__name__}: pass secret names as strings, "
            "'name' or 'name/version'"
        )
    name, _slash, version = term.partition("/")
    if not _NAME.match(name) or (version and not _VERSION.match(version)) or term.endswith("/"):
        raise AnsibleError(
            f"azure_keyvault: {term!r} is not a secret name: Key Vault names are 1-127 letters, digits and "
            "dashes, optionally followed by '/' and a 32-character hexadecimal version"
        )
    return name, version or None


def check_vault_url(url):
    """Return the vault URL without a trailing slash; raise AnsibleError unless it is an https URL of a vault."""
    if not url:
        raise AnsibleError(
            "azure_keyvault: no vault_url: pass vault_url=https://NAME.vault.azure.net, or set the variable "
            "azure_keyvault_url, the environment variable AZURE_KEYVAULT_URL or [azure_keyvault] vault_url "
            "in ansible.cfg"
        )
    parts = urlsplit(str(url))
    if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/") or parts.query:
        raise AnsibleError(
            f"azure_keyvault: vault_url {url!r} is not a vault URL: it must look like https://NAME.vault.azure.net "
            "(https, no path)"
        )
    return f"https://{parts.netloc}"


def check_options(options):
    """Return the vault URL (see check_vault_url); raise AnsibleError naming the first option that is off."""
    if options["auth"] not in AUTH_METHODS:
        raise AnsibleError(f"azure_keyvault: auth={options['auth']!r} is not one of {', '.join(AUTH_METHODS)}")
    for name, low in _AT_LEAST:
        if options[name] < low:
            raise AnsibleError(f"azure_keyvault: {name}={options[name]} must be at least {low}")
    if not options["timeout"] > 0:
        raise AnsibleError(f"azure_keyvault: timeout={options['timeout']} must be more than 0 seconds")
    return check_vault_url(options.get("vault_url"))
