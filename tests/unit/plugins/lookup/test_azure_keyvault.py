"""tailnet.llm.azure_keyvault, loaded by its FQCN through Ansible's lookup loader: options and input checks.

Nothing here talks to a vault: every case fails (or returns) before the first request. The real SDK
against a local Key Vault server is exercised in tests/integration/keyvault.
"""

import os
import pathlib
import re
import socket
import subprocess
import sys

import pytest
from ansible.errors import AnsibleError, AnsibleOptionsError
from ansible.plugins.loader import lookup_loader
from helpers import COLLECTIONS, REPO, ansible_env

GOOD_URL = "https://kv-unit.vault.azure.net"
OPTIONS = (
    "vault_url",
    "auth",
    "tenant_id",
    "client_id",
    "client_secret",
    "client_certificate_path",
    "client_certificate_password",
    "federated_token_file",
    "authority_host",
    "disable_instance_discovery",
    "verify_challenge_resource",
    "timeout",
    "retries",
    "max_concurrency",
    "default",
)


@pytest.fixture
def lookup():
    plugin = lookup_loader.get("tailnet.llm.azure_keyvault")
    assert plugin is not None
    return plugin


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    """No Azure settings from the machine, and no connection anywhere: these cases must fail before one."""
    for name in list(os.environ):
        if name.startswith(("AZURE_", "IDENTITY_", "MSI_")):
            monkeypatch.delenv(name)
    attempts = []

    def refuse(sock, address):
        attempts.append(address)
        raise AssertionError(f"unit test tried to connect to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: refuse(None, a[:2]))
    yield
    assert attempts == []


def test_loaded_by_fqcn_from_this_collection(lookup):
    assert lookup.ansible_name == "tailnet.llm.azure_keyvault"
    path = pathlib.Path(lookup._original_path).resolve()
    assert path == REPO / "plugins" / "lookup" / "azure_keyvault.py"


def test_every_option_is_documented_with_its_sources(lookup):
    lookup.set_options(var_options={}, direct={})
    assert set(OPTIONS) <= set(lookup._options)
    from ansible import constants as C

    defs = C.config.get_configuration_definitions("lookup", lookup._load_name)
    # vault, auth and timeouts come from the doc fragment with kwargs, variables, environment and ansible.cfg.
    for name in ("vault_url", "auth", "tenant_id", "client_id", "timeout", "retries"):
        assert defs[name].get("env"), name
        assert defs[name].get("vars"), name
        assert defs[name].get("ini"), name
    # Secrets are never read from ansible.cfg (a plain file in the repository).
    for name in ("client_secret", "client_certificate_password"):
        assert "ini" not in defs[name], name
    assert defs["auth"]["default"] == "auto"
    assert "managed_identity" in defs["auth"]["choices"]


def test_no_terms_returns_nothing_without_a_request(lookup):
    assert lookup.run([], {}, vault_url=GOOD_URL) == []


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        pytest.param({}, AnsibleError, "no vault_url: pass vault_url=https://NAME.vault.azure.net", id="no-vault-url"),
        pytest.param(
            {"vault_url": "http://kv.vault.azure.net"}, AnsibleError, "is not a vault URL", id="vault-url-not-https"
        ),
        pytest.param(
            {"vault_url": GOOD_URL + "/secrets/x"}, AnsibleError, "is not a vault URL", id="vault-url-with-path"
        ),
        pytest.param({"vault_url": "kv-miket-ops"}, AnsibleError, "is not a vault URL", id="vault-url-bare-name"),
        pytest.param(
            {"vault_url": GOOD_URL, "auth": "msi"},
            AnsibleOptionsError,
            re.compile(r"Invalid value .msi. for config.*\bauth\b"),
            id="auth",
        ),
        pytest.param(
            {"vault_url": GOOD_URL, "timeout": "soon"},
            AnsibleOptionsError,
            re.compile(r"\btimeout\b.*'soon'"),
            id="timeout-not-a-number",
        ),
        pytest.param({"vault_url": GOOD_URL, "timeout": 0}, AnsibleError, "timeout=0", id="timeout-zero"),
        pytest.param({"vault_url": GOOD_URL, "retries": -1}, AnsibleError, "retries=-1 must be", id="retries-negative"),
        pytest.param(
            {"vault_url": GOOD_URL, "max_concurrency": 0}, AnsibleError, "max_concurrency=0", id="concurrency-zero"
        ),
        pytest.param(
            {"vault_url": GOOD_URL, "vault": "kv"}, AnsibleError, "unknown option(s) vault", id="unknown-option"
        ),
        pytest.param(
            {"vault_url": GOOD_URL, "auth": "service_principal", "tenant_id": "t", "client_id": "c"},
            AnsibleError,
            "auth=service_principal needs client_secret or client_certificate_path",
            id="sp-without-secret",
        ),
        pytest.param(
            {"vault_url": GOOD_URL, "auth": "service_principal", "client_id": "c", "client_secret": "s"},
            AnsibleError,
            "auth=service_principal needs tenant_id",
            id="sp-without-tenant",
        ),
        pytest.param(
            {"vault_url": GOOD_URL, "auth": "workload_identity", "tenant_id": "t", "client_id": "c"},
            AnsibleError,
            "auth=workload_identity needs federated_token_file",
            id="workload-identity-without-token-file",
        ),
    ],
)
def test_bad_options(lookup, kwargs, error, message):
    with pytest.raises(error) as caught:
        lookup.run(["litellm-master-key"], {}, **kwargs)
    text = str(caught.value)
    # ansible-core words its own option errors differently from release to release: those are patterns.
    assert message.search(text) if isinstance(message, re.Pattern) else message in text, text


@pytest.mark.parametrize(
    ("term", "message"),
    [
        pytest.param(42, "term 42 is a int", id="int"),
        pytest.param(None, "term None is a NoneType", id="none"),
        pytest.param({"name": "x"}, "is a dict", id="dict"),
        pytest.param("", "'' is not a secret name", id="empty"),
        pytest.param("litellm_master_key", "'litellm_master_key' is not a secret name", id="underscore"),
        pytest.param("a" * 128, "is not a secret name", id="too-long"),
        pytest.param("name/", "'name/' is not a secret name", id="trailing-slash"),
        pytest.param("name/latest", "'name/latest' is not a secret name", id="version-not-hex"),
        pytest.param("name/" + "0" * 31, "is not a secret name", id="version-too-short"),
        pytest.param("a/" + "0" * 32 + "/x", "is not a secret name", id="extra-part"),
    ],
)
def test_bad_terms(lookup, term, message):
    with pytest.raises(AnsibleError) as caught:
        lookup.run(["good-name", term], {}, vault_url=GOOD_URL)
    assert message in str(caught.value)
    assert "32-character hexadecimal version" in str(caught.value) or "pass secret names as strings" in str(
        caught.value
    )


def test_client_secret_never_in_option_errors(lookup):
    secret = "unit-test-client-secret-9b7c1"
    with pytest.raises(AnsibleError) as caught:
        lookup.run(["x"], {}, vault_url=GOOD_URL, auth="service_principal", client_id="c", client_secret=secret)
    assert secret not in str(caught.value)


@pytest.mark.parametrize(
    ("variables", "env", "kwargs", "expected"),
    [
        pytest.param({}, "http://from-env", {}, "http://from-env", id="env"),
        pytest.param({"azure_keyvault_url": "http://from-vars"}, "http://from-env", {}, "http://from-vars", id="vars"),
        pytest.param(
            {"azure_keyvault_url": "http://from-vars"},
            "http://from-env",
            {"vault_url": "http://from-kwargs"},
            "http://from-kwargs",
            id="kwargs",
        ),
    ],
)
def test_option_sources_and_precedence(lookup, monkeypatch, variables, env, kwargs, expected):
    monkeypatch.setenv("AZURE_KEYVAULT_URL", env)
    with pytest.raises(AnsibleError) as caught:
        lookup.run(["x"], variables, **kwargs)
    assert f"vault_url {expected!r} is not a vault URL" in str(caught.value)


def test_option_from_ansible_cfg(tmp_path):
    """[azure_keyvault] vault_url in ansible.cfg reaches the lookup (a real ansible run, in its own process)."""
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text(
        f"[defaults]\ncollections_path = {COLLECTIONS}\n\n[azure_keyvault]\nvault_url = http://from-ansible-cfg\n"
    )
    env = ansible_env(cfg)
    result = subprocess.run(
        [
            str(pathlib.Path(sys.executable).parent / "ansible"),
            "localhost",
            "-c",
            "local",
            "-i",
            "localhost,",
            "-m",
            "ansible.builtin.debug",
            "-a",
            "msg={{ lookup('tailnet.llm.azure_keyvault', 'x') }}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "vault_url 'http://from-ansible-cfg' is not a vault URL" in result.stdout + result.stderr


def test_option_variables_are_templated():
    """azure_keyvault_url in the inventory may be a template; the lookup sees its value."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar

    try:
        from ansible.template import trust_as_template
    except ImportError:  # ansible-core 2.18: every string is a template

        def trust_as_template(value):
            return value

    variables = {"vault_name": "kv-templated", "azure_keyvault_url": trust_as_template("http://{{ vault_name }}")}
    plugin = lookup_loader.get(
        "tailnet.llm.azure_keyvault", loader=DataLoader(), templar=Templar(loader=DataLoader(), variables=variables)
    )
    with pytest.raises(AnsibleError) as caught:
        plugin.run(["x"], variables)
    assert "vault_url 'http://kv-templated' is not a vault URL" in str(caught.value)
