"""The vllm role's env file: rendered by Ansible, sourced by the containers' entrypoint shell.

Values reach the vLLM process exactly as given (the entrypoint is run here with /bin/sh, as in the
container), and bad names or values fail before any change with a message that never shows a value.
"""

import pathlib
import re
import subprocess

import pytest
import yaml
from helpers import REPO, failures, render

TRICKY = {
    "HF_TOKEN": "hf_a b'c\"d $HOME `id` $(id) \\n ; & | < > * ? ~ # = é",
    "EMPTY": "",
    "DASHED": "-x --y",
    "PERCENT": "100% {not} [a]",
    "APOSTROPHES": "''",
}
ENV = {"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": 1, "HF_TOKEN": "overridden by the secret"}
BACKENDS = [{"name": "akira-local", "host": "127.0.0.1", "port": 8000, "models": [{"id": "m", "alias": "a/m"}]}]


COMPOSE_SERVICE_TEMPLATES = REPO / "roles" / "compose_service" / "templates"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """vLLM's env file (written by tailnet.llm.compose_service from the vllm role's variables) and compose file."""
    workdir = tmp_path_factory.mktemp("env")
    variables = {"vllm_env": ENV, "vllm_env_secrets": TRICKY, "vllm_backends": BACKENDS}
    texts = render(
        "vllm",
        {
            "env": (COMPOSE_SERVICE_TEMPLATES / "env.j2", {**variables, "compose_service_env": "{{ __vllm_env }}"}),
            "compose": ("docker-compose.yml.j2", variables),
        },
        workdir,
    )
    path = workdir / "vllm.env"
    path.write_text(texts["env"])
    return path, yaml.safe_load(texts["compose"])["services"]["akira-local"]["entrypoint"]


@pytest.fixture(scope="module")
def env_file(rendered):
    return rendered[0]


@pytest.fixture(scope="module")
def entrypoint(rendered):
    """The compose file's entrypoint up to the server's own command."""
    return rendered[1][: -len(["python3", "-m", "vllm.entrypoints.openai.api_server"])]


def _sh(*args, cwd):
    return subprocess.run(["/bin/sh", *args], capture_output=True, text=True, check=True, cwd=cwd, env={})


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_sourced_value_is_exact(env_file, name):
    script = f'set -a; . "{env_file}"; printf %s "${name}"'
    assert _sh("-c", script, cwd=env_file.parent).stdout == TRICKY[name]


def test_one_quoted_line_per_variable(env_file):
    lines = [line for line in env_file.read_text().splitlines() if not line.startswith("#")]
    names = [line.split("=", 1)[0] for line in lines]
    fixed = yaml.safe_load((REPO / "roles/vllm/vars/main.yml").read_text())["__vllm_env_fixed"]
    assert {"DO_NOT_TRACK", "VLLM_NO_USAGE_STATS", "VLLM_HOST_IP", "GLOO_SOCKET_IFNAME"} <= set(fixed)
    assert names == sorted({*fixed, *ENV, *TRICKY})
    assert "HF_TOKEN='hf_a b'" in env_file.read_text()  # quoted, not written as is


def test_the_entrypoint_exports_the_env_file_into_the_server_process(env_file, entrypoint):
    # The compose file's entrypoint, with the env file where the test can read it and `env -0` standing in
    # for `python3 -m vllm.entrypoints.openai.api_server` (it receives the same "$@").
    assert entrypoint[:2] == ["/bin/sh", "-c"]
    script = entrypoint[2].replace("/run/secrets/vllm.env", str(env_file))
    result = subprocess.run(
        [*entrypoint[:2], script, entrypoint[3], "env", "-0"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    environment = dict(item.split("=", 1) for item in result.stdout.split("\0") if item)
    assert {name: environment.get(name) for name in TRICKY} == TRICKY
    assert environment["HF_HUB_OFFLINE"] == "1"
    assert environment["VLLM_CPU_KVCACHE_SPACE"] == "1"
    assert environment["VLLM_NO_USAGE_STATS"] == "1"
    assert environment["DO_NOT_TRACK"] == "1"


def test_the_entrypoint_passes_the_vllm_arguments_unchanged(env_file, entrypoint):
    script = entrypoint[2].replace("/run/secrets/vllm.env", str(env_file))
    args = ["--model", "Qwen/Qwen2.5-7B", "--served-model-name", "a b", "--host", "127.0.0.1"]
    result = subprocess.run(
        ["/bin/sh", "-c", script, "vllm", "printf", "%s\\n", *args], capture_output=True, text=True, check=True
    )
    assert result.stdout.splitlines() == args


BAD = {
    "space-in-name": ({"vllm_env_secrets": {"HF TOKEN": "hf_secret-value-1"}}, "vllm_env_secrets", "HF TOKEN"),
    "digit-first": ({"vllm_env": {"1X": "hf_secret-value-2"}}, "vllm_env", "1X"),
    "dash-in-name": ({"vllm_env_secrets": {"HF-TOKEN": "hf_secret-value-3"}}, "vllm_env_secrets", "HF-TOKEN"),
    "two-lines": ({"vllm_env_secrets": {"HF_TOKEN": "hf_secret\nvalue-4"}}, "vllm_env_secrets.HF_TOKEN", "one line"),
    "carriage-return": ({"vllm_env": {"X": "hf_secret\rvalue-5"}}, "vllm_env.X", "one line"),
    "list-value": ({"vllm_env_secrets": {"HF_TOKEN": ["hf_secret-value-6"]}}, "vllm_env_secrets.HF_TOKEN", "one line"),
    "retired-variable": ({"vllm_hf_token": "hf_secret-value-7"}, "vllm_hf_token", "vllm_env_secrets"),
}
GOOD = {
    "defaults": {},
    "tricky-values": {"vllm_env_secrets": TRICKY, "vllm_env": ENV},
    "number-value": {"vllm_env": {"VLLM_CPU_KVCACHE_SPACE": 1}},
}


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    cases = {**{k: v[0] for k, v in BAD.items()}, **GOOD}
    return failures("vllm", "check_env.yml", cases, tmp_path_factory.mktemp("check"))


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_environment_fails_naming_host_and_variable(checked, case):
    _hostvars, where, what = BAD[case]
    message = checked[case]
    assert message, f"{case} was accepted"
    assert message.startswith("host localhost: ")
    assert where in message
    assert what in message
    assert "hf_secret" not in message  # never the value


@pytest.mark.parametrize("case", sorted(GOOD))
def test_good_environment_passes(checked, case):
    assert checked[case] is None


def _cdi_pattern():
    tasks = yaml.safe_load((REPO / "roles/vllm/tasks/validate.yml").read_text())
    (find,) = [t["ansible.builtin.find"] for t in tasks if "ansible.builtin.find" in t]
    assert find["paths"] == ["/etc/cdi", "/var/run/cdi"]
    assert find["read_whole_file"] is True  # the find module then uses re.search on the whole file
    return re.compile(find["contains"])


@pytest.mark.parametrize(
    ("spec", "found"),
    [
        ('---\ncdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n  - name: "0"\n  - name: all\n', True),
        ('cdiVersion: "0.6.0"\nkind: "nvidia.com/gpu"\ndevices: []\n', True),
        ('{"cdiVersion":"0.5.0","kind":"nvidia.com/gpu","devices":[{"name":"all"}]}', True),
        ('{"cdiVersion": "0.5.0", "kind": "nvidia.com/gpu", "devices": []}', True),
        ("cdiVersion: 0.5.0\nkind: amd.com/gpu\n", False),
        ("cdiVersion: 0.5.0\nkind: nvidia.com/gpux\n", False),
        ("cdiVersion: 0.5.0\nkind: nvidia.com/mig\n", False),
    ],
)
def test_cdi_spec_pattern(spec, found):
    assert bool(_cdi_pattern().search(spec)) is found


def test_cdi_error_names_the_command_that_creates_the_spec():
    text = (REPO / "roles/vllm/tasks/validate.yml").read_text()
    assert "nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml" in text


def test_no_secret_on_a_command_line_or_in_compose_environment(tmp_path):
    secret = "hf_only-in-the-env-file-0a9f"
    variables = {"vllm_backends": BACKENDS, "vllm_env_secrets": {"HF_TOKEN": secret}}
    texts = render(
        "vllm",
        {
            "compose": ("docker-compose.yml.j2", variables),
            "unit": (
                COMPOSE_SERVICE_TEMPLATES / "compose.service.j2",
                {
                    **variables,
                    "__compose_service_compose": "/usr/bin/podman-compose",
                    "compose_service_description": "vLLM",
                },
            ),
        },
        tmp_path,
    )
    assert secret not in texts["compose"]
    assert secret not in texts["unit"]
    assert pathlib.PurePath("/run/secrets/vllm.env").name in texts["compose"]
