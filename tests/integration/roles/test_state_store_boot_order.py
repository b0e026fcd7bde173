"""The state host reboots before its tailnet address is there: Redis and PostgreSQL wait for it, and serve on it
once it comes, with no operator action.

A throw-away systemd test host (the lab's host image, with the distribution's redis-server and postgresql) is
converged by the state_store role with its tailnet address (on loopback), then
rebooted (`podman restart`: a new network namespace, so the address is gone, as at boot before tailscaled has set
it). The units wait (activating, started again after each bounded wait, never failed for good); once the address
is added, both listen on it within a bound.
"""

import json
import subprocess
import time

import pytest
from helpers import ansible_env, podman_exec, run_on_test_host, systemd_host

ADDRESS = "100.64.77.6"  # CGNAT range, as Tailscale's addresses
PASSWORDS = {"REDIS_PASSWORD": "redis-boot-order-3f1c", "DATABASE_PASSWORD": "db-boot-order-8a2e"}
TIMEOUT = 5  # state_store_address_timeout: short, so that the test sees a wait end and the unit start again
UNITS = ["redis-server.service", "postgresql@15-main.service"]
# From the address's arrival to both services listening on it: at most one wait plus RestartSec plus a start.
BOUND = 30


def _add_address(host):
    # On loopback: the test host has no dummy or tun module to make an interface like tailscale0 with.
    podman_exec(host, "ip", "addr", "add", f"{ADDRESS}/32", "dev", "lo")


def _listening(host):
    """The ports listening on ADDRESS."""
    out = podman_exec(host, "ss", "-Htln", check=False).stdout
    return {int(line.split()[3].rsplit(":", 1)[1]) for line in out.splitlines() if f"{ADDRESS}:" in line}


def _serving(host):
    """Both units are up and both listen on ADDRESS."""
    return _listening(host) >= {6379, 5432} and all(_state(host, unit).get("SubState") == "running" for unit in UNITS)


def _state(host, unit):
    # check=False: just after the reboot, systemd may not answer yet (an empty state)
    out = podman_exec(host, "systemctl", "show", "-p", "ActiveState,SubState,NRestarts,After", unit, check=False).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@pytest.fixture(scope="module")
def state_host(tmp_path_factory):
    with systemd_host("tnllm-boot") as host:
        _add_address(host)
        tmp = tmp_path_factory.mktemp("boot")
        playbook = tmp / "state.yml"
        playbook.write_text(json.dumps([{"name": "State host", "hosts": "all", "roles": ["tailnet.llm.state_store"]}]))
        hostvars = {
            "state_store_bind_address": ADDRESS,
            "state_store_secrets": PASSWORDS,
            "state_store_address_timeout": TIMEOUT,
        }
        rc, output, _ = run_on_test_host(playbook, "tessier", host, hostvars, tmp, env=ansible_env(), timeout=400)
        assert rc == 0, output[-4000:]
        assert _listening(host) >= {6379, 5432}
        yield host


def test_the_units_start_after_tailscaled(state_host):
    for unit in UNITS:
        assert "tailscaled.service" in _state(state_host, unit)["After"].split(), unit


def test_after_a_reboot_without_the_address_they_wait_then_serve_on_it_once_it_comes(state_host):
    subprocess.run(["podman", "restart", "-t", "10", state_host], check=True, capture_output=True)
    # Booted: the address is gone, the enabled units are waiting for it (and started again after each wait).
    deadline = time.monotonic() + 3 * TIMEOUT + 20
    while time.monotonic() < deadline:
        states = {unit: _state(state_host, unit) for unit in UNITS}
        if all(int(s.get("NRestarts") or 0) >= 1 for s in states.values()):
            break
        time.sleep(1)
    for unit, state in states.items():
        assert int(state.get("NRestarts") or 0) >= 1, f"{unit} was not started again after its wait: {state}"
        assert state["SubState"] != "running", (unit, state)
    # never failed for good: still being started, not left failed
    time.sleep(TIMEOUT + 6)
    for unit in UNITS:
        state = _state(state_host, unit)
        assert state["ActiveState"] in ("activating", "deactivating") or state["SubState"] == "auto-restart", (
            unit,
            state,
        )
    assert _listening(state_host) == set()

    _add_address(state_host)
    added = time.monotonic()
    while time.monotonic() - added < BOUND and not _serving(state_host):
        time.sleep(0.5)
    took = time.monotonic() - added
    assert _serving(state_host), (
        f"Redis and PostgreSQL do not serve on {ADDRESS} {BOUND} s after it came: "
        + podman_exec(state_host, "journalctl", "-b", "-n", "40", "--no-pager", check=False).stdout
    )
    print(f"both served on {ADDRESS} {took:.1f} s after it was added")
