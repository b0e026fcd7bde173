"""The internal role tailnet.llm.compose_service: its systemd unit, and its refusal to run outside a service role."""

import pytest
from helpers import failures, render

SERVICE = {
    "compose_service_name": "litellm",
    "compose_service_description": "LiteLLM gateway",
    "compose_service_dir": "/flux/apps/litellm",
    "compose_service_after": ["vllm"],
    "compose_service_restart_sec": 3,
    "compose_service_stop_timeout": 30,
    "__compose_service_compose": "/opt/podman-compose/bin/podman-compose",
}


@pytest.fixture(scope="module")
def unit(tmp_path_factory):
    text = render("compose_service", {"unit": ("compose.service.j2", SERVICE)}, tmp_path_factory.mktemp("unit"))["unit"]
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Description", "LiteLLM gateway (podman-compose project in /flux/apps/litellm)"),
        ("After", "network-online.target vllm.service"),
        ("WorkingDirectory", "/flux/apps/litellm"),
        ("ExecStartPre", "-/opt/podman-compose/bin/podman-compose --project-name litellm down"),
        ("ExecStart", "/opt/podman-compose/bin/podman-compose --project-name litellm up"),
        ("ExecStop", "/opt/podman-compose/bin/podman-compose --project-name litellm down"),
        ("Restart", "always"),
        ("RestartSec", "3"),
        ("TimeoutStopSec", "30"),
        ("WantedBy", "multi-user.target"),
    ],
)
def test_unit(unit, key, value):
    assert unit[key] == value


def test_a_playbook_cannot_run_it_directly(tmp_path):
    message = failures("compose_service", "install.yml", {"direct": SERVICE}, tmp_path)["direct"]
    assert message == "tailnet.llm.compose_service is internal to the service roles (vllm, litellm); use those."
