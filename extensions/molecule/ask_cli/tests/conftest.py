"""Fixtures of the ask_cli testinfra modules (molecule verify, or real hosts with --hosts).

pytest finds this checkout's pyproject.toml above these files, wherever it is started (molecule starts
it in the scenario's directory), so `helpers` (tests/helpers.py) is on its pythonpath here too.
"""

import shlex

import pytest
import yaml
from helpers import REPO
from testinfra.backend.podman import PodmanBackend
from testinfra.host import Host

DEFAULTS = REPO / "roles" / "ask_cli" / "defaults" / "main.yml"


@pytest.fixture(scope="module")
def settings(host):
    """The role's variables for this host: inventory values over the role defaults."""
    hostvars = host.ansible.get_variables()
    return {k: hostvars.get(k, v) for k, v in yaml.safe_load(DEFAULTS.read_text()).items()}


class QuietPodmanBackend(PodmanBackend):
    """`podman exec` that keeps podman's own warnings (conmon cgroup notices on the test machines)
    out of the command's stderr, which the tests check."""

    def run(self, command, *args, **kwargs):
        cmd = self.get_command(command, *args)
        out = self.run_local("podman --log-level=error exec %s /bin/sh -c %s", self.name, cmd)
        out.command = self.encode(cmd)
        return out


@pytest.fixture(scope="module")
def client(host):
    """The host to run commands on. For a podman test host that is the same container through
    `podman exec`: testinfra's ansible backend runs a whole Ansible task per command (seconds each,
    minutes for this suite). Real hosts (ssh, local) keep testinfra's own fast backends."""
    hostvars = host.ansible.get_variables()
    if host.backend.NAME == "ansible" and str(hostvars.get("ansible_connection", "")).endswith("podman"):
        backend = QuietPodmanBackend(hostvars["inventory_hostname"])
        client = Host(backend)
        backend.set_host(client)
        return client
    return host


@pytest.fixture(scope="module")
def login_shell(client):
    """login_shell(user, command): run COMMAND in USER's login shell, as a person on the workstation would."""

    def run(user, command):
        return client.run(f"runuser -l {user} -c {shlex.quote(command)}")

    return run
