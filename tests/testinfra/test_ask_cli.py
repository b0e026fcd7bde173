"""`ask` on a workstation against a real gateway (the stack scenario, or real hosts). The expected model
name comes from the inventory (ask_cli_model); the user is the first of ask_cli_api_key_users (root otherwise), in a login shell, as a person would."""

import re
import shlex

testinfra_hosts = ["ansible://llm_clients"]

# podman's own notices (e.g. conmon cgroup warnings on the test machines) on the test host's stderr
PODMAN_NOTICE = re.compile(r'^time="[^"]*" level=(debug|info|warning) msg=.*$\n?', re.M)


def ask_as_key_user(host, args):
    hostvars = host.ansible.get_variables()
    user = (hostvars.get("ask_cli_api_key_users") or ["root"])[0]
    with host.sudo():  # runuser needs root; the operator reaches the host as itself
        result = host.run(f"runuser -l {user} -c {shlex.quote('ask ' + args)}")
    return result.rc, result.stdout, PODMAN_NOTICE.sub("", result.stderr)


def test_lists_the_models(host):
    rc, stdout, stderr = ask_as_key_user(host, "--list-models")
    assert (rc, stderr) == (0, "")
    assert host.ansible.get_variables().get("ask_cli_model", "default") in stdout.split("\n")


def test_answers_a_question(host):
    rc, stdout, stderr = ask_as_key_user(host, "--max-tokens 24 'What is the capital of France?'")
    assert (rc, stderr) == (0, "")
    assert stdout.strip()
