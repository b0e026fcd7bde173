"""The internal role tailnet.llm.boot_order: the drop-in that orders a unit after tailscaled and makes it wait for
its tailnet address, rendered by Ansible from the role's template, and the script the drop-in runs, run here."""

import subprocess
import time

import pytest
from helpers import REPO, render

WAIT = REPO / "roles/boot_order/files/tailnet-llm-wait-address"


def _sections(text):
    """{section: [(key, value), ...]} of a systemd unit file, comments left out."""
    sections, current = {}, None
    for line in text.splitlines():
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
        elif line and not line.startswith("#"):
            key, _equals, value = line.partition("=")
            current.append((key, value))
    return sections


@pytest.fixture(scope="module")
def drop_ins(tmp_path_factory):
    cases = {
        "postgresql": {"item": {"name": "postgresql@"}, "boot_order_addresses": ["100.64.10.6"]},
        "redis": {
            "item": {"name": "redis-server", "restart": ""},
            "boot_order_addresses": ["100.64.10.6", "127.0.0.1"],
            "boot_order_address_timeout": 30,
            "boot_order_restart_sec": 7,
        },
        "vllm-ipv6": {
            "item": {"name": "vllm", "restart": ""},
            "boot_order_addresses": ["fd7a:115c:a1e0:10::3", "::", "localhost", "fd7a:115c:a1e0:10::3"],
        },
    }
    rendered = render(
        "boot_order", {k: ("tailnet-llm.conf.j2", v) for k, v in cases.items()}, tmp_path_factory.mktemp("r")
    )
    return {case: _sections(text) for case, text in rendered.items()}


def test_a_distribution_unit_starts_after_tailscaled_waits_for_its_address_and_restarts_on_failure(drop_ins):
    unit = drop_ins["postgresql"]
    assert unit["Unit"] == [
        ("Wants", "tailscaled.service"),
        ("After", "tailscaled.service"),
        ("StartLimitIntervalSec", "0"),
    ]
    assert unit["Service"] == [
        ("ExecStartPre", "+/usr/local/sbin/tailnet-llm-wait-address 60 100.64.10.6"),
        ("Restart", "on-failure"),
        ("RestartSec", "5"),
    ]


def test_a_unit_that_restarts_on_its_own_keeps_its_policy_and_loopback_is_not_waited_for(drop_ins):
    assert drop_ins["redis"]["Service"] == [
        ("ExecStartPre", "+/usr/local/sbin/tailnet-llm-wait-address 30 100.64.10.6"),
        ("RestartSec", "7"),
    ]


def test_only_ip_addresses_beyond_loopback_and_wildcards_are_waited_for_once(drop_ins):
    assert ("ExecStartPre", "+/usr/local/sbin/tailnet-llm-wait-address 60 fd7a:115c:a1e0:10::3") in drop_ins[
        "vllm-ipv6"
    ]["Service"]


def test_the_wait_ends_at_once_when_the_address_is_there():
    started = time.monotonic()
    result = subprocess.run([WAIT, "5", "127.0.0.1", "::1"], capture_output=True, text=True, check=False)
    assert (result.returncode, result.stderr) == (0, "")
    assert time.monotonic() - started < 2


def test_the_wait_fails_after_its_timeout_naming_the_missing_address():
    started = time.monotonic()
    # 192.0.2.0/24 is TEST-NET-1: never assigned to this machine.
    result = subprocess.run([WAIT, "2", "127.0.0.1", "192.0.2.77"], capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert result.stdout == "waiting (at most 2s) for 192.0.2.77 to be assigned\n"
    assert result.stderr == "192.0.2.77 is not assigned to any interface of this host after 2s\n"
    assert 2 <= elapsed < 5
