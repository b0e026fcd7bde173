"""Throw-away test hosts for the playbook tests (the lab's host image, reached with podman), and a way to run
one of this tree's playbooks against such a host."""

import contextlib
import json
import pathlib
import re
import subprocess
import time
import uuid

import pytest

IMAGE = "localhost/tailnet-llm/host:lab"
REPO = pathlib.Path(__file__).resolve().parents[3]
DEPLOY = REPO / "playbooks/akira/deploy-litellm.yml"


def run_playbook(playbook, name, container, hostvars, tmp_path, *options, env=None, timeout=300):
    """Run `playbook` with `options` against `container`, inventory host `name` in llm_gateways with `hostvars`.

    Returns (return code, stdout + stderr, the host's recap as {ok, changed, unreachable, failed} or None).
    """
    host = {"ansible_connection": "containers.podman.podman", "ansible_host": container, **hostvars}
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"llm_gateways": {"hosts": {name: host}}}))
    result = subprocess.run(
        [str(REPO / ".venv/bin/ansible-playbook"), *options, "-i", str(inventory), str(playbook)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = result.stdout + result.stderr
    found = re.search(rf"{name}\s*: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output)
    recap = dict(zip(("ok", "changed", "unreachable", "failed"), map(int, found.groups()))) if found else None
    return result.returncode, output, recap


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
