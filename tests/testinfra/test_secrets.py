"""Each secret reaches only the service that uses it, and never a command line, `podman inspect` or the journal.

Secret names come from the inventory (`<service>_env_secrets`, `azure_keyvault_secrets.<service>`), their values from
the env files on the host. Failures name the secret and the place, never the value. Every gateway and model host
(once each).
"""

import json

import helpers

testinfra_hosts = ["ansible://llm_gateways", "ansible://llm_model_hosts"]


def _all_secrets(host):
    found = {
        f"{service}:{name}": value for service, names in helpers.secrets(host).items() for name, value in names.items()
    }
    assert found, "the inventory gives this host no secret to check"
    if helpers.model_host_settings(host)["is_gateway"]:
        assert "litellm:LITELLM_MASTER_KEY" in found
    return found


def _leaks(found, text):
    return sorted(name for name, value in found.items() if value in text)


def test_no_secret_on_any_command_line(host):
    found = _all_secrets(host)
    with host.sudo():
        commands = host.check_output("ps -eww -o args")
    assert not _leaks(found, commands)


def test_no_secret_in_podman_inspect(host):
    found = _all_secrets(host)
    with host.sudo():
        names = host.check_output("podman ps -a --format '{{.Names}}'").split()
        assert names, "no container to inspect"
        inspected = host.check_output("podman inspect " + " ".join(names))
    assert not _leaks(found, inspected)


def test_no_secret_in_the_journal(host):
    found = _all_secrets(host)
    with host.sudo():
        journal = host.check_output("journalctl --no-pager -o cat")
    assert not _leaks(found, journal)


def _environ(host, container):
    """The environment of a container's main process, as the kernel holds it."""
    with host.sudo():
        pid = host.check_output("podman inspect --format '{{.State.Pid}}' %s", container)
        raw = host.check_output("tr '\\0' '\\n' < /proc/%s/environ", pid)
    return dict(line.split("=", 1) for line in raw.splitlines() if "=" in line)


def _containers(host):
    with host.sudo():
        rows = json.loads(host.check_output("podman ps --format json"))
    return {row["Names"][0]: row["Labels"].get("com.docker.compose.project") for row in rows}


def test_each_secret_reaches_only_its_service(host):
    """Each service's containers hold its secrets, and no secret of another service (one both are given, such as
    the fleet's vLLM key on a host that is gateway and model host for others, is theirs both)."""
    found = helpers.secrets(host)
    projects = _containers(host)
    for service, secrets in found.items():
        assert secrets, f"the inventory gives {service} no secret to check"
        containers = [name for name, project in projects.items() if project == service]
        assert containers, f"no running container of the {service} project"
        for container in containers:
            environ = _environ(host, container)
            missing = [name for name, value in secrets.items() if environ.get(name) != value]
            assert not missing, f"{container} lacks {missing}"
            foreign = [
                f"{other}:{name}"
                for other, names in found.items()
                if other != service
                for name, value in names.items()
                if name not in secrets and value in environ.values()
            ]
            assert not foreign, f"{container} holds another service's secrets: {foreign}"
