"""A throw-away systemd test host for the playbook tests: the lab's host image, reached with podman."""

import contextlib
import subprocess
import time
import uuid

import pytest

IMAGE = "localhost/tailnet-llm/host:lab"


def podman_exec(container, *command, check=True):
    return subprocess.run(["podman", "exec", container, *command], capture_output=True, text=True, check=check)


@contextlib.contextmanager
def systemd_host(prefix):
    """Start a host:lab container with systemd as PID 1, wait until it is up, remove it afterwards."""
    if subprocess.run(["podman", "image", "exists", IMAGE], check=False).returncode != 0:
        pytest.fail(f"the test host image {IMAGE} is missing: run `make host-image`")
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    run = ["podman", "run", "-d", "--name", name, "--privileged", "--systemd=always", "--cgroupns=host"]
    subprocess.run(
        [*run, "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", IMAGE, "/sbin/init"], check=True, capture_output=True
    )
    try:
        deadline = time.monotonic() + 60
        state = ""
        while time.monotonic() < deadline:
            state = podman_exec(name, "systemctl", "is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.5)
        assert state in ("running", "degraded"), f"systemd in the test host did not come up: {state!r}"
        yield name
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", name], check=False, capture_output=True)
