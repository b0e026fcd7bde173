"""tailnet.llm.azure_keyvault with the real azure-identity + azure-keyvault-secrets against the local vault server.

The lookup is loaded by its FQCN (conftest.py); tests/servers/kvserver.py answers the Key Vault secrets REST API
and the Entra ID token API over HTTPS on loopback. No test may connect anywhere but loopback.
"""

import json
import os
import pathlib
import subprocess
import sys
import time

import pytest
from ansible.errors import AnsibleError
from helpers import ansible_env
from kvserver import KeyVaultServer, make_client_certificate

CLIENT_SECRET = "test-client-secret-0123456789"
SECRETS = {
    "litellm-master-key": "sk-test-master-key-5f2b9c",
    "openai-api-key": "sk-openai-test-value-77aa",
    "hf-token": "hf_testtokenvalue1234567890",
    "templated": "{{ lookup('ansible.builtin.env', 'HOME') }}",
}
AZURE_VARIABLES = [name for name in os.environ if name.startswith(("AZURE_", "IDENTITY_", "MSI_"))]
ALL_VALUES = [*SECRETS.values(), CLIENT_SECRET]


@pytest.fixture
def kv(monkeypatch):
    """A running local vault with a reader principal and SECRETS; trusted through REQUESTS_CA_BUNDLE.

    Besides the lookup's own cache, the SDK's process-wide cache of vault challenges is emptied: it is keyed by
    scheme, host and port, and a vault of an earlier test on the same port had another tenant."""
    from ansible_collections.tailnet.llm.plugins.plugin_utils._azure_keyvault_client import clear_cache
    from azure.keyvault.secrets._shared import http_challenge_cache

    for name in AZURE_VARIABLES:
        monkeypatch.delenv(name)
    with KeyVaultServer() as server:
        server.reader = server.add_principal(secret=CLIENT_SECRET)
        for name, value in SECRETS.items():
            server.set_secret(name, value)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_file)
        clear_cache()
        http_challenge_cache.clear()
        yield server
        clear_cache()
        http_challenge_cache.clear()


@pytest.fixture
def sp(kv):
    """Lookup options for the reader service principal against the local vault and its Entra ID endpoint."""
    return {
        "vault_url": kv.url,
        "auth": "service_principal",
        "tenant_id": kv.tenant,
        "client_id": kv.reader.client_id,
        "client_secret": CLIENT_SECRET,
        "authority_host": kv.url,
        "disable_instance_discovery": True,
        "verify_challenge_resource": False,
        "retries": 0,
    }


def _no_value_in(text):
    for value in ALL_VALUES:
        assert value not in text, "a secret value appears in the output"


def _fails(lookup, terms, **options):
    with pytest.raises(AnsibleError) as caught:
        lookup.run(terms, {}, **options)
    message = str(caught.value)
    _no_value_in(message)
    return message


def test_many_terms_in_one_call_are_fetched_concurrently(kv, lookup, sp, loopback_only):
    names = [f"many-{i:02d}" for i in range(40)]
    for name in names:
        kv.set_secret(name, f"value-of-{name}")
    kv.delay = 0.2  # every request: 40 one after another would take > 8 s
    start = time.monotonic()
    values = lookup.run(names, {}, **sp)
    elapsed = time.monotonic() - start
    assert values == [f"value-of-{name}" for name in names]
    # Concurrently: challenge, token and two rounds of 32 + 8 requests, about 1 s (4 s of slack for a busy CI).
    assert elapsed < 4.0, f"40 secrets took {elapsed:.2f} s: not fetched concurrently"
    assert len(kv.requests("token")) == 1, "one credential: one token for all terms"
    assert [r.path for r in kv.requests("vault") if r.status == 200].count("/secrets/many-00/") == 1
    assert loopback_only == []


def test_terms_lists_are_flattened_and_order_kept(kv, lookup, sp):
    assert lookup.run([["hf-token", "openai-api-key"], "litellm-master-key"], {}, **sp) == [
        SECRETS["hf-token"],
        SECRETS["openai-api-key"],
        SECRETS["litellm-master-key"],
    ]


def test_versions(kv, lookup, sp):
    first = kv.set_secret("rotated", "first-value")
    second = kv.set_secret("rotated", "second-value")
    assert lookup.run(["rotated", f"rotated/{first}", f"rotated/{second.upper()}"], {}, **sp) == [
        "second-value",
        "first-value",
        "second-value",
    ]
    assert all(r.query.get("api-version") for r in kv.requests("vault"))
    missing = "0" * 32
    message = _fails(lookup, [f"rotated/{missing}"], **sp)
    assert f"version {missing} of secret 'rotated' not found in vault {kv.url}" in message
    assert lookup.run([f"rotated/{missing}"], {}, default="", **sp) == [""]


def test_missing_without_default_names_vault_and_secret(kv, lookup, sp):
    message = _fails(lookup, ["litellm-master-key", "no-such-secret", "hf-token"], **sp)
    assert f"1 of 3 secrets could not be fetched from {kv.url}" in message
    assert f"secret 'no-such-secret' not found in vault {kv.url} (HTTP 404)" in message
    assert "pass default= to the lookup" in message
    assert "az keyvault secret set" in message


def test_missing_with_default(kv, lookup, sp):
    values = lookup.run(["no-such-secret", "hf-token", "also-missing"], {}, default="fallback", **sp)
    assert values == ["fallback", SECRETS["hf-token"], "fallback"]
    assert lookup.run(["no-such-secret"], {}, default=None, **sp) == [None]


def test_disabled_secret(kv, lookup, sp):
    kv.set_secret("switched-off", "disabled-value", enabled=False)
    message = _fails(lookup, ["switched-off"], default="x", **sp)
    assert f"secret 'switched-off' in vault {kv.url} is disabled (HTTP 403)" in message
    assert "disabled-value" not in message


def test_forbidden_403(kv, lookup, sp):
    outsider = kv.add_principal(secret="outsider-client-secret", can_read=False)
    options = {**sp, "client_id": outsider.client_id, "client_secret": "outsider-client-secret"}
    message = _fails(lookup, ["litellm-master-key", "hf-token"], **options)
    assert f"2 of 2 secrets could not be fetched from {kv.url}" in message
    for name in ("litellm-master-key", "hf-token"):
        assert f"access to secret '{name}' in vault {kv.url} is denied to auth=service_principal" in message
    assert f"(client {outsider.client_id}) (HTTP 403 Forbidden/ForbiddenByRbac)" in message
    assert "'Key Vault Secrets User' role" in message
    assert "outsider-client-secret" not in message
    # A default is for missing secrets only: a refusal stays an error.
    _fails(lookup, ["litellm-master-key"], default="", **options)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            {"client_secret": "wrong-client-secret-value"},
            "AADSTS7000215: Invalid client secret provided",
            id="wrong-client-secret",
        ),
        pytest.param(
            {"client_id": "11111111-2222-3333-4444-555555555555"},
            "Check client_id and tenant_id",
            id="unknown-client",
        ),
        pytest.param({"tenant_id": "another-tenant"}, "set tenant_id to the vault's tenant", id="other-tenant"),
        pytest.param({"auth": "cli"}, "Install the Azure CLI and run 'az login'", id="cli-not-logged-in"),
        pytest.param({"auth": "auto", "client_secret": None}, "auth=auto (Azure CLI login)", id="auto-falls-to-cli"),
    ],
)
def test_no_token(kv, lookup, sp, monkeypatch, tmp_path, loopback_only, change, expected):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `az` here: as on a machine where nobody ran az login
    start = time.monotonic()
    message = _fails(lookup, ["litellm-master-key"], **{**sp, **change})
    assert time.monotonic() - start < 5, "the default chain must not wait (no managed identity probe)"
    assert f"could not get a token for vault {kv.url}" in message
    assert expected in message
    assert "wrong-client-secret-value" not in message
    assert loopback_only == [], "nothing may be contacted off this machine (e.g. 169.254.169.254)"
    assert not [r for r in kv.requests("vault") if r.authorized]


def test_vault_down(kv, lookup, sp, closed_port):
    url = f"https://127.0.0.1:{closed_port}"
    start = time.monotonic()
    message = _fails(lookup, ["litellm-master-key", "hf-token"], **{**sp, "vault_url": url})
    assert time.monotonic() - start < 5
    assert f"vault {url} is unreachable" in message
    assert "secret 'litellm-master-key'" in message or "[litellm-master-key, hf-token]" in message
    assert "Check vault_url, DNS, the network" in message


def test_slow_vault_within_timeout(kv, lookup, sp):
    kv.delay = 0.3
    assert lookup.run(["hf-token"], {}, timeout=2, **sp) == [SECRETS["hf-token"]]


def test_slow_vault_times_out(kv, lookup, sp):
    kv.delay = 1.5
    start = time.monotonic()
    message = _fails(lookup, ["hf-token"], **{**sp, "timeout": 0.3})
    elapsed = time.monotonic() - start
    assert elapsed < 1.4, f"gave up after {elapsed:.2f} s, not after the 0.3 s timeout"
    assert f"timed out after 0.3 s (retries=0) fetching secret 'hf-token' from vault {kv.url}" in message
    assert "raise timeout=" in message


@pytest.mark.parametrize("kind", ["certificate", "workload_identity", "env_service_principal"])
def test_other_auth_methods(kv, lookup, sp, tmp_path, monkeypatch, loopback_only, kind):
    base = {
        k: sp[k] for k in ("vault_url", "authority_host", "disable_instance_discovery", "verify_challenge_resource")
    }
    if kind == "certificate":
        pem = tmp_path / "app.pem"
        app = kv.add_principal(certificate_pem=make_client_certificate(pem))
        options = {**base, "auth": "service_principal", "tenant_id": kv.tenant, "client_id": app.client_id}
        options["client_certificate_path"] = str(pem)
    elif kind == "workload_identity":
        app = kv.add_principal(federated_token="federated-token-from-the-oidc-issuer")
        token_file = tmp_path / "token"
        token_file.write_text("federated-token-from-the-oidc-issuer")
        options = {**base, "auth": "workload_identity", "tenant_id": kv.tenant, "client_id": app.client_id}
        options["federated_token_file"] = str(token_file)
    else:  # auth=auto picks the service principal given in the standard AZURE_* variables
        monkeypatch.setenv("AZURE_TENANT_ID", kv.tenant)
        monkeypatch.setenv("AZURE_CLIENT_ID", kv.reader.client_id)
        monkeypatch.setenv("AZURE_CLIENT_SECRET", CLIENT_SECRET)
        options = base
    assert lookup.run(["litellm-master-key"], {}, **options) == [SECRETS["litellm-master-key"]]
    assert loopback_only == []


def test_values_are_unsafe(kv, lookup, sp):
    """A value that looks like a template is returned, and templated, as the literal text."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, is_trusted_as_template, trust_as_template

    (value,) = lookup.run(["templated"], {}, **sp)
    assert value == SECRETS["templated"]
    assert not is_trusted_as_template(value)
    templar = Templar(loader=DataLoader(), variables={"secret": value})
    assert templar.template(value) == SECRETS["templated"]
    assert templar.template(trust_as_template("{{ secret }}")) == SECRETS["templated"]
    # The same text, trusted as a template, would have been rendered: the check above can fail.
    assert templar.template(trust_as_template(SECRETS["templated"])) != SECRETS["templated"]


def test_token_and_connections_reused_across_calls(kv, lookup, sp):
    assert lookup.run(["litellm-master-key"], {}, **sp) == [SECRETS["litellm-master-key"]]
    first = len(kv.requests())
    assert lookup.run(["hf-token", "openai-api-key"], {}, **sp) == [SECRETS["hf-token"], SECRETS["openai-api-key"]]
    later = kv.requests()[first:]
    assert len(kv.requests("token")) == 1, "the second call must reuse the token"
    assert [(r.kind, r.status, r.authorized) for r in later] == [("vault", 200, True)] * 2, "no new challenge"


def test_errors_list_every_failure_without_values(kv, lookup, sp, closed_port):
    outsider = kv.add_principal(secret="outsider-client-secret", can_read=False)
    messages = [
        _fails(lookup, ["litellm-master-key", "gone", "templated"], **sp),
        _fails(
            lookup, list(SECRETS), **{**sp, "client_id": outsider.client_id, "client_secret": "outsider-client-secret"}
        ),
        _fails(lookup, list(SECRETS), **{**sp, "vault_url": f"https://127.0.0.1:{closed_port}"}),
    ]
    assert "secret 'gone' not found" in messages[0]
    assert "litellm-master-key" not in messages[0].split("\n", 1)[1], "only the failing secret is listed"


# -- a real ansible-playbook run on localhost --------------------------------------------------------------

PLAY = """
- name: Fetch secrets with the lookup
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    azure_keyvault_url: "{{ lookup('ansible.builtin.env', 'TEST_VAULT_URL') }}"
    azure_keyvault_auth: service_principal
    azure_keyvault_authority_host: "{{ azure_keyvault_url }}"
    azure_keyvault_disable_instance_discovery: true
    azure_keyvault_verify_challenge_resource: false
    azure_keyvault_secrets:
      litellm:
        LITELLM_MASTER_KEY: litellm-master-key
        OPENAI_API_KEY: openai-api-key
        TEMPLATED: templated
  tasks:
    - name: Fetch the mapping (the shipped role)
      ansible.builtin.include_role:
        name: tailnet.llm.azure_keyvault

    - name: Fetch one more, directly
      ansible.builtin.set_fact:
        hf_token: "{{ lookup('tailnet.llm.azure_keyvault', 'hf-token') }}"
        optional: "{{ lookup('tailnet.llm.azure_keyvault', 'not-there', default='') }}"
      no_log: true

    - name: Write what was fetched
      ansible.builtin.copy:
        content: "{{ litellm_env_secrets | combine({'HF': hf_token, 'OPTIONAL': optional}) | to_json }}"
        dest: OUT
        mode: "0600"
      no_log: true
"""


def _playbook(kv, tmp_path, mapping_extra=None):
    out = tmp_path / "out.json"
    play = PLAY.replace("OUT", str(out))
    if mapping_extra:
        play = play.replace("        TEMPLATED: templated\n", f"        TEMPLATED: templated\n{mapping_extra}")
    (tmp_path / "play.yml").write_text(play)
    env = ansible_env(
        TEST_VAULT_URL=kv.url,
        REQUESTS_CA_BUNDLE=kv.ca_file,
        AZURE_TENANT_ID=kv.tenant,
        AZURE_CLIENT_ID=kv.reader.client_id,
        AZURE_CLIENT_SECRET=CLIENT_SECRET,
        ANSIBLE_NOCOLOR="1",
    )
    result = subprocess.run(
        [
            str(pathlib.Path(sys.executable).parent / "ansible-playbook"),
            "-vvv",
            "-i",
            "localhost,",
            "play.yml",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    return result, out


def test_ansible_playbook_vvv_shows_no_value(kv, tmp_path):
    result, out = _playbook(kv, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert json.loads(out.read_text()) == {
        "LITELLM_MASTER_KEY": SECRETS["litellm-master-key"],
        "OPENAI_API_KEY": SECRETS["openai-api-key"],
        "TEMPLATED": SECRETS["templated"],  # not templated by Jinja
        "HF": SECRETS["hf-token"],
        "OPTIONAL": "",
    }
    assert "azure_keyvault: 3 secret(s) from" in output  # -vvv did show the lookup's own line
    _no_value_in(output)


def test_ansible_playbook_failing_fetch_names_secret_without_values(kv, tmp_path):
    result, out = _playbook(kv, tmp_path, mapping_extra="        ANTHROPIC_API_KEY: anthropic-api-key\n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"secret 'anthropic-api-key' not found in vault {kv.url}" in output, output[-4000:]
    assert not out.exists()
    _no_value_in(output)


def test_forked_worker_keeps_the_token_not_the_connections(kv, lookup, sp):
    """Ansible runs tasks in forked workers: a child reuses the parent's token over connections of its own."""
    assert lookup.run(["litellm-master-key"], {}, **sp) == [SECRETS["litellm-master-key"]]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one lookup, its result (or error) to the parent, then exit without cleanup
        try:
            os.close(read_end)
            payload = json.dumps(lookup.run(["hf-token", "openai-api-key"], {}, **sp))
        except BaseException as exc:
            payload = json.dumps({"error": repr(exc)})
        os.write(write_end, payload.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        result = json.loads(pipe.read())
    os.waitpid(pid, 0)
    assert result == [SECRETS["hf-token"], SECRETS["openai-api-key"]]
    assert len(kv.requests("token")) == 1, "the child reused the parent's token"
    # The parent's own connection still works after the child ran.
    assert lookup.run(["templated"], {}, **sp) == [SECRETS["templated"]]
