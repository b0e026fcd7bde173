"""Every role's meta/argument_specs.yml matches its defaults, and rejects malformed input."""

import json
import os
import pathlib
import subprocess

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from helpers import ANSIBLE_BIN, ANSIBLE_CFG

ROLES = sorted(
    p.parent.parent.name for p in pathlib.Path(__file__).resolve().parents[3].glob("roles/*/meta/argument_specs.yml")
)
REPO = pathlib.Path(__file__).resolve().parents[3]


def _spec(role, entry="main"):
    return yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"][entry]


def _defaults(role):
    return yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text()) or {}


def test_every_role_has_an_argument_spec():
    roles = sorted(p.name for p in (REPO / "roles").iterdir() if p.is_dir())
    assert roles == ROLES


@pytest.mark.parametrize("role", ROLES)
def test_spec_keys_match_defaults(role):
    """Every default is in the spec, and every option of the spec has a default unless it is required."""
    options = _spec(role)["options"]
    assert sorted(options) == sorted([*_defaults(role), *(n for n, o in options.items() if o.get("required"))])


def _ansible_doc(role):
    result = subprocess.run(
        [str(ANSIBLE_BIN / "ansible-doc"), "-t", "role", "--json", f"tailnet.llm.{role}"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={**os.environ, "ANSIBLE_CONFIG": str(ANSIBLE_CFG)},
    )
    return json.loads(result.stdout)[f"tailnet.llm.{role}"]["entry_points"]


@pytest.mark.parametrize("role", ROLES)
def test_ansible_doc_describes_every_default(role):
    """The role's documentation, as `ansible-doc -t role` renders it, describes every variable of its defaults."""
    options = _ansible_doc(role)["main"]["options"]
    undocumented = [name for name in _defaults(role) if not (options.get(name) or {}).get("description")]
    assert not undocumented, f"ansible-doc -t role tailnet.llm.{role} does not describe {undocumented}"


@pytest.mark.parametrize("role", ROLES)
def test_spec_defaults_match_defaults_file(role):
    options = _spec(role)["options"]
    for name, value in _defaults(role).items():
        if isinstance(value, str) and "{{" in value:
            continue  # templated default, resolved at run time
        assert options[name].get("default") == value, name


@pytest.mark.parametrize("role", ROLES)
def test_every_option_has_a_type_and_description(role):
    def walk(options, path):
        for name, option in options.items():
            assert option.get("type"), f"{path}{name} has no type"
            assert option.get("description"), f"{path}{name} has no description"
            if option.get("type") == "list" and option.get("options"):
                assert option.get("elements") == "dict", f"{path}{name} needs elements: dict"
            walk(option.get("options") or {}, f"{path}{name}.")

    walk(_spec(role)["options"], "")


def _validate(role, params):
    options = {k: {kk: vv for kk, vv in v.items() if kk != "description"} for k, v in _spec(role)["options"].items()}
    return ArgumentSpecValidator(options).validate(params)


GOOD_BACKENDS = [{"name": "akira-local", "host": "127.0.0.1", "port": 8000, "models": [{"id": "m", "alias": "a/m"}]}]


@pytest.mark.parametrize(
    ("role", "params", "expected"),
    [
        pytest.param("vllm", {"vllm_backends": "akira-local"}, "vllm_backends", id="vllm-backends-not-a-list"),
        pytest.param(
            "vllm", {"vllm_backends": [{"host": "h", "port": 1, "models": []}]}, "name", id="vllm-missing-name"
        ),
        pytest.param(
            "vllm",
            {"vllm_backends": [{"name": "n", "host": "h", "models": [{"id": "m", "alias": "a"}]}]},
            "port",
            id="vllm-missing-port",
        ),
        pytest.param(
            "vllm",
            {"vllm_backends": [{"name": "n", "host": "h", "port": 1, "models": [{"alias": "a"}]}]},
            "id",
            id="vllm-missing-id",
        ),
        pytest.param(
            "vllm",
            {"vllm_backends": [{"name": "n", "host": "h", "port": 1, "models": [{"id": "m"}]}]},
            "alias",
            id="vllm-missing-alias",
        ),
        pytest.param(
            "vllm",
            {"vllm_backends": [{"name": "n", "host": "h", "port": "eighty", "models": [{"id": "m", "alias": "a"}]}]},
            "port",
            id="vllm-port-not-int",
        ),
        pytest.param(
            "vllm",
            {"vllm_backends": GOOD_BACKENDS, "vllm_accelerator": "tpu"},
            "vllm_accelerator",
            id="unknown-accelerator",
        ),
        pytest.param(
            "litellm", {"litellm_backends": {"name": "x"}}, "litellm_backends", id="litellm-backends-not-a-list"
        ),
        pytest.param("litellm", {"litellm_extra_models": [{"alias": "x"}]}, "model", id="extra-model-missing-model"),
        pytest.param(
            "firewalld", {"firewalld_sources": "100.64.0.0/10"}, None, id="firewalld-source-string-becomes-list"
        ),
    ],
)
def test_spec_rejects_bad_input(role, params, expected):
    result = _validate(role, params)
    if expected is None:
        assert not result.error_messages
    else:
        assert result.error_messages
        assert any(expected in m for m in result.error_messages), result.error_messages


@pytest.mark.parametrize("role", ROLES)
def test_spec_accepts_the_defaults(role):
    defaults = {k: v for k, v in _defaults(role).items() if not (isinstance(v, str) and "{{" in v)}
    required = {name: "x" for name, option in _spec(role)["options"].items() if option.get("required")}
    assert not _validate(role, {**defaults, **required}).error_messages
