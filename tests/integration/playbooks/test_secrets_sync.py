"""tailnet.llm.secrets_sync (playbooks/secrets_sync.yml) end to end: the real lookup on the controller, the local Key Vault server on
loopback, and a throw-away systemd test host (podman) with a stand-in litellm.service.

One container and one vault for the module; the tests run in order, each building on the host's state.
"""

import hashlib
import json

import pytest
from helpers import REPO, ansible_env, free_port, run_on_test_host, systemd_host
from helpers import podman_exec as _exec
from kvserver import KeyVaultServer

HOST = "lab-akira"
ENV_FILE = "/flux/apps/litellm/.env"
VLLM_ENV_FILE = "/flux/apps/vllm/.env"
LITELLM_UNIT, LITELLM_STARTS = "litellm", "/var/lib/litellm-starts"
VLLM_UNIT, VLLM_STARTS = "vllm", "/var/lib/vllm-starts"
CLIENT_SECRET = "sync-test-client-secret-4d1e"
MAPPING = {
    "LITELLM_MASTER_KEY": "litellm-master-key",
    "OPENAI_API_KEY": "openai-api-key",
}
VLLM_MAPPING = {"HF_TOKEN": "hf-token"}


def _unit(name, starts):
    """A stand-in for a real unit: every start appends a line, so restarts can be counted."""
    return f"""[Unit]
Description=stand-in {name} for the secrets-sync test
[Service]
ExecStart=/bin/sh -c 'echo start >> {starts}; exec sleep infinity'
[Install]
WantedBy=multi-user.target
"""


@pytest.fixture(scope="module")
def host():
    with systemd_host("tnllm-secrets") as name:
        for unit, starts in ((LITELLM_UNIT, LITELLM_STARTS), (VLLM_UNIT, VLLM_STARTS)):
            _exec(name, "sh", "-c", f"cat > /etc/systemd/system/{unit}.service <<'EOF'\n{_unit(unit, starts)}EOF")
        _exec(name, "systemctl", "daemon-reload")
        _exec(name, "systemctl", "enable", "--now", f"{LITELLM_UNIT}.service", f"{VLLM_UNIT}.service")
        yield name


@pytest.fixture(scope="module")
def vault():
    with KeyVaultServer() as server:
        server.reader = server.add_principal(secret=CLIENT_SECRET)
        server.set_secret("litellm-master-key", "sk-sync-master-9f3a1c")
        server.set_secret("openai-api-key", "sk-openai-sync-2b7d")
        server.set_secret("hf-token", "hf_{{ lookup('ansible.builtin.env', 'HOME') }}_sync")
        yield server


def _values(vault):
    values = []
    for versions in vault.state.secrets.values():
        values += [v.value for v in versions]
    return [*values, CLIENT_SECRET]


def _sync(
    host,
    vault,
    tmp_path,
    *options,
    mapping=MAPPING,
    vault_url=None,
    hostvars=None,
    vllm_mapping=VLLM_MAPPING,
    playbook="tailnet.llm.secrets_sync",
):
    """Run PLAYBOOK (tailnet.llm.secrets_sync) with -vvv --diff and OPTIONS against the test host; assert no value in
    its output."""
    hostvars = {
        "ansible_python_interpreter": "/usr/bin/python3",
        "azure_keyvault_secrets": {"litellm": mapping, "vllm": vllm_mapping},
        **(hostvars or {}),
    }
    lookup = {
        **vault.lookup_options(vault.reader),
        "azure_keyvault_url": vault_url or vault.url,
        "azure_keyvault_timeout": 5,
    }
    (tmp_path / "vault.json").write_text(json.dumps(lookup))
    env = ansible_env(
        ANSIBLE_NOCOLOR="1",
        REQUESTS_CA_BUNDLE=vault.ca_file,
        AZURE_CLIENT_SECRET=CLIENT_SECRET,  # the client secret from the environment, as in CI
    )
    rc, output, recap = run_on_test_host(
        playbook,
        HOST,
        host,
        hostvars,
        tmp_path,
        *options,
        "-vvv",
        "--diff",
        "-e",
        f"@{tmp_path / 'vault.json'}",
        env=env,
    )
    for value in _values(vault):
        assert value not in output, "a secret value appears in the ansible-playbook -vvv --diff output"
    assert recap, output[-4000:]
    return rc, output, recap


def _env_file(host, path=ENV_FILE):
    """The raw file, and the variables it gives its service as the container's shell reads it."""
    raw = _exec(host, "cat", path).stdout
    listed = _exec(host, "env", "-i", "/bin/sh", "-c", f"set -a && . {path} && exec env -0").stdout
    pairs = (item.split("=", 1) for item in listed.split("\0") if "=" in item)
    return raw, {name: value for name, value in pairs if name not in ("PWD", "SHLVL", "_")}


def _fingerprint(host, path=ENV_FILE):
    stat = _exec(host, "stat", "-c", "%a %U %G %Y.%y", path).stdout.strip()
    return hashlib.sha256(_exec(host, "cat", path).stdout.encode()).hexdigest(), stat


def _starts(host, starts=LITELLM_STARTS):
    return len(_exec(host, "cat", starts).stdout.splitlines())


def test_first_sync_writes_the_env_files_and_restarts(host, vault, tmp_path):
    assert _starts(host) == 1
    assert _starts(host, VLLM_STARTS) == 1
    rc, output, recap = _sync(host, vault, tmp_path)
    assert rc == 0, output[-4000:]
    assert recap["changed"] >= 1
    assert _env_file(host)[1] == {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_MASTER_KEY": "sk-sync-master-9f3a1c",
        "OPENAI_API_KEY": "sk-openai-sync-2b7d",
    }
    vllm_env = _env_file(host, VLLM_ENV_FILE)[1]
    # written as is, never templated; and only there
    assert vllm_env["HF_TOKEN"] == "hf_{{ lookup('ansible.builtin.env', 'HOME') }}_sync"
    assert "LITELLM_MASTER_KEY" not in vllm_env
    assert "OPENAI_API_KEY" not in vllm_env
    for path in (ENV_FILE, VLLM_ENV_FILE):
        assert _exec(host, "stat", "-c", "%a %U %G", path).stdout.split() == ["600", "root", "root"]
    assert _starts(host) == 2, "one restart for the new file"
    assert _starts(host, VLLM_STARTS) == 2, "one restart for the new file"
    assert _exec(host, "systemctl", "is-active", "litellm").stdout.strip() == "active"


def test_second_sync_changes_nothing(host, vault, tmp_path):
    before = _fingerprint(host), _fingerprint(host, VLLM_ENV_FILE)
    rc, output, recap = _sync(host, vault, tmp_path)
    assert rc == 0, output[-4000:]
    assert recap["changed"] == 0, output[-4000:]
    assert (_fingerprint(host), _fingerprint(host, VLLM_ENV_FILE)) == before
    assert _starts(host) == 2
    assert _starts(host, VLLM_STARTS) == 2


def test_the_runbooks_command_in_check_mode_changes_nothing(host, vault, tmp_path):
    """`ansible-playbook -i inventory/hosts.yml playbooks/secrets-sync.yml --limit akira`, as the runbook has it."""
    before = _fingerprint(host), _fingerprint(host, VLLM_ENV_FILE)
    rc, output, recap = _sync(host, vault, tmp_path, "--check", playbook=REPO / "playbooks/secrets-sync.yml")
    assert rc == 0, output[-4000:]
    assert recap["changed"] == 0, output[-4000:]
    assert (_fingerprint(host), _fingerprint(host, VLLM_ENV_FILE)) == before
    assert _starts(host) == 2


def test_rotated_hf_token_restarts_vllm_only(host, vault, tmp_path):
    vault.set_secret("hf-token", "hf_rotated_5e0b")
    rc, output, recap = _sync(host, vault, tmp_path)
    assert rc == 0, output[-4000:]
    assert recap["changed"] >= 1
    assert _env_file(host, VLLM_ENV_FILE)[1]["HF_TOKEN"] == "hf_rotated_5e0b"
    assert _starts(host, VLLM_STARTS) == 3, "exactly one vLLM restart for the rotated token"
    assert _starts(host) == 2, "LiteLLM never gets the token, so it is not restarted"


def test_changed_secret_restarts_once(host, vault, tmp_path):
    vault.set_secret("openai-api-key", "sk-openai-rotated-8c1e")
    rc, output, recap = _sync(host, vault, tmp_path)
    assert rc == 0, output[-4000:]
    assert recap["changed"] >= 1
    assert _env_file(host)[1]["OPENAI_API_KEY"] == "sk-openai-rotated-8c1e"
    assert _starts(host) == 3, "exactly one restart for the changed value"
    assert _starts(host, VLLM_STARTS) == 3, "vLLM does not get provider keys, so it is not restarted"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        pytest.param(
            "missing-secret",
            "secret 'anthropic-api-key' not found in vault {url}",
            id="missing-secret",
        ),
        pytest.param("vault-down", "vault {url} is unreachable for secret", id="vault-down"),
    ],
)
def test_failing_fetch_leaves_the_file_alone(host, vault, tmp_path, case, expected):
    # A value changed in the vault: a sync that went ahead would rewrite the file.
    vault.set_secret("litellm-master-key", f"sk-must-not-be-written-{case}")
    before = _fingerprint(host)
    starts = _starts(host)
    mapping, url = dict(MAPPING), None
    if case == "missing-secret":
        mapping["ANTHROPIC_API_KEY"] = "anthropic-api-key"
    else:
        url = f"https://127.0.0.1:{free_port()}"
    rc, output, recap = _sync(host, vault, tmp_path, mapping=mapping, vault_url=url)
    assert rc != 0
    assert recap["failed"] == 1
    assert recap["changed"] == 0
    assert expected.format(url=url or vault.url) in output, output[-4000:]
    assert _fingerprint(host) == before, "the env file must stay byte for byte as it was"
    assert _starts(host) == starts


def test_without_azure_a_generated_master_key_is_kept(host, vault, tmp_path):
    """No Key Vault: the inventory feeds litellm_env_secrets itself, here a key generated once on the controller."""
    key_file = tmp_path / "credentials" / "lab-akira-litellm-master-key"
    generated = (
        "sk-{{ lookup('ansible.builtin.password', '"
        + str(key_file)
        + "', chars=['ascii_letters', 'digits'], length=40) }}"
    )
    requests_before = len(vault.requests())
    starts = _starts(host)
    rc, output, recap = _sync(
        host,
        vault,
        tmp_path,
        mapping={},
        vllm_mapping={},
        hostvars={"litellm_env_secrets": {"LITELLM_MASTER_KEY": generated}},
    )
    assert rc == 0, output[-4000:]
    assert recap["changed"] >= 1
    kept = key_file.read_text().split()[0]
    assert len(kept) == 40
    assert kept not in output
    assert _env_file(host)[1]["LITELLM_MASTER_KEY"] == f"sk-{kept}"
    assert "OPENAI_API_KEY" not in _env_file(host)[1], "only what the inventory gives is written"
    assert _starts(host) == starts + 1
    assert len(vault.requests()) == requests_before, "no vault was asked"


@pytest.mark.parametrize(
    ("hostvars", "expected"),
    [
        pytest.param(
            {"litellm_keyvault_secrets": MAPPING},
            "litellm_keyvault_secrets and vllm_keyvault_secrets are no longer used: move the mappings to "
            "azure_keyvault_secrets",
            id="retired-mapping",
        ),
        pytest.param(
            {"vllm_env": {"HF HUB": "x"}},
            'host lab-akira: vllm_env: "HF HUB" is not an environment variable name',
            id="bad-vllm-name",
        ),
    ],
)
def test_bad_input_writes_nothing(host, vault, tmp_path, hostvars, expected):
    """Both services' input is checked before either env file is written."""
    vault.set_secret("litellm-master-key", "sk-must-not-be-written-bad-input")
    before = _fingerprint(host), _fingerprint(host, VLLM_ENV_FILE)
    starts = _starts(host), _starts(host, VLLM_STARTS)
    rc, output, recap = _sync(host, vault, tmp_path, hostvars=hostvars)
    assert rc != 0
    assert recap["changed"] == 0
    assert expected in output, output[-4000:]
    assert (_fingerprint(host), _fingerprint(host, VLLM_ENV_FILE)) == before
    assert (_starts(host), _starts(host, VLLM_STARTS)) == starts
