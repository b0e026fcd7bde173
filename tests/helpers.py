"""What the test suites share: the checkout's paths, rendering a role's templates on the controller, and
throw-away test hosts to run this tree's playbooks against.

`tests`, `tests/servers` and `build/collections` are on pytest's `pythonpath` (pyproject.toml), so every
suite imports `helpers`, the loopback servers and this tree as the `tailnet.llm` collection without
path edits.
"""

import contextlib
import functools
import hashlib
import ipaddress
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
# The unit tests also run in the installed tarball (tests/ansible-test/run.sh), where REPO is the collection's
# directory ansible_collections/tailnet/llm and ansible-test names its own ansible.cfg in ANSIBLE_CONFIG (the tarball
# has no ansible.cfg); in this checkout, build/collections links this tree as tailnet.llm.
COLLECTIONS = REPO.parents[2] if REPO.parents[1].name == "ansible_collections" else REPO / "build" / "collections"
ANSIBLE_CFG = REPO / "ansible.cfg" if (REPO / "ansible.cfg").exists() else Path(os.environ["ANSIBLE_CONFIG"])
# Ansible's commands of the Python running the tests (.venv, or the venv ansible-test runs in).
ANSIBLE_BIN = Path(sys.executable).parent
ANSIBLE_PLAYBOOK = ANSIBLE_BIN / "ansible-playbook"


def ansible_env(config=ANSIBLE_CFG, **variables):
    """The environment for an Ansible run in its own process: this machine's, without any AZURE_ or ANSIBLE_
    setting that would leak in, with CONFIG as ansible.cfg and VARIABLES added."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "ANSIBLE_"))}
    return {**env, "ANSIBLE_CONFIG": str(config), **variables}


def free_port(host="127.0.0.1"):
    """A TCP port nothing listens on right now, on HOST."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class PlaybookRun:
    """One ansible-playbook run: its exit code, whole output (stdout and stderr), seconds and, with the
    ansible.posix.json callback, its report."""

    def __init__(self, proc, seconds):
        self.returncode = proc.returncode
        self.output = proc.stdout + proc.stderr
        self.seconds = seconds
        start = proc.stdout.find("{")
        try:
            self.report = json.loads(proc.stdout[start:]) if start >= 0 else {}
        except ValueError:
            self.report = {}

    def results(self):
        """{host: {task name: the host's result}} over every play of the report."""
        hosts = {}
        for play in self.report.get("plays", []):
            for task in play["tasks"]:
                for host, result in task["hosts"].items():
                    hosts.setdefault(host, {})[task["task"]["name"]] = result
        return hosts

    def result(self, host, task_suffix):
        """HOST's result of the task whose name ends with TASK_SUFFIX, or None."""
        return next((r for name, r in self.results().get(host, {}).items() if name.endswith(task_suffix)), None)

    def failures(self):
        """'host: task: message' of every failed task."""
        return [
            f"{host}: {name}: {result.get('msg')}"
            for host, tasks in self.results().items()
            for name, result in tasks.items()
            if result.get("failed")
        ]


def ansible_playbook(*args, cwd=REPO, timeout=900, env=None, **variables):
    """ansible-playbook ARGS in its own process, from CWD, with the JSON callback: a PlaybookRun. ENV is the whole
    environment (by default ansible_env()); VARIABLES are added to it (ANSIBLE_STDOUT_CALLBACK to read the plain
    output)."""
    started = time.monotonic()
    proc = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), *map(str, args)],
        cwd=cwd,
        env={**(env or ansible_env()), "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", **variables},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return PlaybookRun(proc, time.monotonic() - started)


# Rendering a role's templates and running its checks on the controller.
# Render a role's templates and run its checks on localhost as Ansible does, without touching any host.
#
# One ansible-playbook run handles a whole batch of cases: each case is a task with its own inventory-like
# variables (task vars), over the role's defaults/main.yml and vars/main.yml. Templates are rendered by the
# `template` lookup, which uses the same engine, options and template variables (`ansible_managed`, ...) as
# the `template` module; everything runs in the controller process (no module is executed, nothing is
# written), so a batch takes a few seconds. Results come back through the ansible.posix.json callback.


def _role_play(role, tasks):
    root = REPO / "roles" / role
    return {
        "name": f"{role} cases",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        # The role's defaults and vars; each case's variables (task or block vars) take precedence over
        # both, as inventory variables take precedence over role defaults.
        # The service roles' templates are rendered by tailnet.llm.compose_service, with its variables too.
        "vars_files": [
            str(REPO / "roles" / "compose_service" / "defaults" / "main.yml"),
            str(REPO / "roles" / "compose_service" / "vars" / "main.yml"),
            str(root / "defaults" / "main.yml"),
            str(root / "vars" / "main.yml"),
        ],
        "vars": {
            "ansible_python_interpreter": sys.executable,
            "compose_service_name": role,
            "compose_service_dir": "{{ " + role + "_base_dir | default('/') }}",
        },
        "tasks": tasks,
    }


# ansible-test runs each test in a fork of its own (its ansible_forked plugin), where a module-scoped fixture's batch
# would run again for every test: there tests/unit/conftest.py names a directory in which run_local_plays keeps each
# run's results for the session's later forks, keyed by everything the run reads besides the collection's files.
PLAYS_CACHE = None


def run_local_plays(plays, workdir, inventory="localhost,", host="localhost"):
    """Run `plays` (on the controller: localhost, or HOST of INVENTORY with a local connection); return
    {task name: HOST's result}. Fails the test if the run fails."""
    env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"}
    cached = None
    if PLAYS_CACHE:
        inputs = [plays, str(inventory), host, {k: v for k, v in env.items() if k != "PYTEST_CURRENT_TEST"}]
        cached = PLAYS_CACHE / hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
        if cached.exists():
            return json.loads(cached.read_text())
    playbook = Path(workdir) / "play.json"
    playbook.write_text(json.dumps(plays))
    run = ansible_playbook("-i", inventory, playbook, env=env)
    if run.returncode != 0:
        raise AssertionError("\n".join(run.failures()) or run.output[-6000:])
    results = run.results()[host]
    if cached:
        cached.write_text(json.dumps(results))
    return results


def render(role, cases, workdir):
    """Render templates of `role`: cases maps a case id to (template file name, variables).

    Returns {case id: rendered text}.
    """
    tasks = [
        {
            "name": f"Render {case_id}",
            "ansible.builtin.debug": {
                "msg": "{{ lookup('ansible.builtin.template', '%s') }}"
                % (REPO / "roles" / role / "templates" / template)
            },
            "vars": variables,
        }
        for case_id, (template, variables) in cases.items()
    ]
    results = run_local_plays([_role_play(role, tasks)], workdir)
    return {case_id: results[f"Render {case_id}"]["msg"] for case_id in cases}


def gateway_files(variables, workdir):
    """The litellm role's project files for VARIABLES (its __litellm_templates), written into WORKDIR where the role
    writes them into its base directory, but the compose file (the tests run the proxy itself). Returns {file: text}."""
    templates = REPO / "roles" / "litellm" / "templates"
    Path(workdir).mkdir(parents=True, exist_ok=True)
    task = {
        "name": "Render the project",
        "ansible.builtin.debug": {"msg": f"{{{{ lookup('ansible.builtin.template', '{templates}/' ~ item.src) }}}}"},
        "loop": "{{ __litellm_templates | rejectattr('dest', 'eq', 'docker-compose.yml') }}",
        "loop_control": {"label": "{{ item.dest }}"},
        "vars": variables,
    }
    results = run_local_plays([_role_play("litellm", [task])], workdir)["Render the project"]["results"]
    files = {result["item"]["dest"]: result["msg"] for result in results}
    for name, text in files.items():
        path = Path(workdir) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return files


# What failed: the message of a task, or of each failed item of a loop.
FAILED_MESSAGE = (
    "{{ (ansible_failed_result.results | default([]) | selectattr('failed', 'defined') | selectattr('failed')"
    " | map(attribute='msg') | join('; ')) or ansible_failed_result.msg }}"
)


def failures(role, task_file, cases, workdir):
    """Run tasks/<task_file> of `role` once per case (cases maps a case id to variables).

    Returns {case id: the failure message, or None when the tasks passed}. Only for task files whose
    tasks run on the controller (fail, assert, set_fact, ...).
    """
    tasks = [
        {
            "name": f"Case {case_id}",
            "vars": variables,
            "block": [{"ansible.builtin.import_tasks": str(REPO / "roles" / role / "tasks" / task_file)}],
            "rescue": [{"name": f"Failed {case_id}", "ansible.builtin.debug": {"msg": FAILED_MESSAGE}}],
        }
        for case_id, variables in cases.items()
    ]
    results = run_local_plays([_role_play(role, tasks)], workdir)
    return {case_id: results.get(f"Failed {case_id}", {}).get("msg") for case_id in cases}


# Throw-away test hosts (the lab's host image, reached with podman) for the playbook tests.
IMAGE = "localhost/tailnet-llm/host:lab"
# The runbook's command runs this file; it imports the collection playbook tailnet.llm.deploy_litellm.
DEPLOY = REPO / "playbooks/akira/deploy-litellm.yml"


def run_on_test_host(
    playbook, name, container, hostvars, tmp_path, *options, env=None, timeout=300, group="llm_gateways"
):
    """Run `playbook` with `options` against `container`, inventory host `name` in GROUP with `hostvars`.

    Returns (return code, stdout + stderr, the host's recap as {ok, changed, unreachable, failed} or None).
    """
    host = {"ansible_connection": "containers.podman.podman", "ansible_host": container, **hostvars}
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({group: {"hosts": {name: host}}}))
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


# The testinfra suites (tests/testinfra): the same tests check the lab (`molecule verify`) and the real hosts
# (`make validate-litellm`), over SSH as an operator with sudo. What they expect comes from the inventory,
# resolved as Ansible resolves it (the roles' defaults under the inventory's variables, templates rendered),
# and is derived by the collection's own functions (plugins/plugin_utils).
@functools.cache
def _ansible_inventory(source):
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.hostvars import HostVars as AnsibleHostVars
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=[source])
    manager = VariableManager(loader=loader, inventory=inventory)
    # As in a play, `hostvars` (every host's variables) for templates that read other hosts' (the fleet's
    # wiring): HostVars registers itself with the variable manager.
    AnsibleHostVars(inventory=inventory, variable_manager=manager, loader=loader)
    # Loaded by Ansible's own loader, so that templated defaults are rendered as in a play.
    defaults = {}
    for path in sorted((REPO / "roles").glob("*/defaults/main.yml")):
        defaults.update(loader.load_from_file(str(path), trusted_as_template=True) or {})
    return loader, inventory, manager, defaults


class HostVars:
    """A host's variables as a play on it sees them (for the variables the roles define); read-only."""

    def __init__(self, host):
        source = host.backend.ansible_inventory or str(REPO / "inventory" / "hosts.yml")
        self._loader, inventory, manager, defaults = _ansible_inventory(source)
        self._vars = {**defaults, **manager.get_vars(host=inventory.get_host(host.backend.host))}

    def __getitem__(self, name):
        from ansible.template import Templar

        return Templar(loader=self._loader, variables=self._vars).template(self._vars[name])

    def get(self, name, default=None):
        return self[name] if name in self._vars else default


def inventory_host(host, name):
    """The inventory's host NAME, reached as HOST is (the same inventory, over SSH as the operator)."""
    import testinfra

    return testinfra.get_host(f"ansible://{name}", ansible_inventory=host.backend.ansible_inventory)


# Each argument ADDRESS:PORT that the host opens a TCP connection to within 5 s, one per line: all probed at once
# (a dropped probe costs its 5 s once, not once per port).
_TCP_PROBE = (
    'for t in "$@"; do (timeout 5 bash -c "exec 3<>/dev/tcp/${t%:*}/${t##*:}" 2>/dev/null && echo "$t") & done; wait'
)


def tcp_reached(host, targets):
    """The (address, port) of TARGETS that HOST opens a TCP connection to (a name, or an IPv4 or IPv6 address)."""
    args = [f"{address}:{port}" for address, port in targets]
    out = host.run("bash -c %s _ " + " ".join(["%s"] * len(args)), _TCP_PROBE, *args).stdout
    return {(address, int(port)) for address, port in (line.rpartition(":")[::2] for line in out.split())}


def group_hosts(host, *groups):
    """The hosts of the inventory's GROUPS, each once, in the inventory's order, reached as HOST is."""
    all_groups = inventory_vars(host)["groups"]
    return [inventory_host(host, name) for name in dict.fromkeys(n for g in groups for n in all_groups.get(g, []))]


def inventory_vars(host):
    return HostVars(host)


def gateway_settings(host):
    """Base dirs, port, backends and the exact list of names the gateway must serve, from the inventory."""
    from ansible_collections.tailnet.llm.plugins.plugin_utils.backends import (
        litellm_model_list,
        local_backends,
        served_names,
    )

    hostvars = inventory_vars(host)
    backends = hostvars["litellm_backends"]
    model_list = litellm_model_list(backends, hostvars["litellm_extra_models"], hostvars["litellm_default_model"])
    return {
        "base_dir": hostvars["litellm_base_dir"],
        "vllm_base_dir": hostvars["vllm_base_dir"],
        "port": int(hostvars["litellm_port"]),
        "bind_address": hostvars["litellm_bind_address"],
        "aliases": served_names(model_list),  # without wildcard routes, which answer for names they match
        "model_list": model_list,
        "backends": backends,
        "local_backends": local_backends(hostvars["vllm_backends"]),
        "sources": [ipaddress.ip_network(r) for r in hostvars["firewalld_sources"]],
    }


def dead_models(host):
    """The aliases of the gateway's models that no provider ever answers, by design: in the lab, the models of
    litellm_extra_models without fallbacks at the controller's port where nothing listens (lab_unreachable_port).
    None elsewhere."""
    from urllib.parse import urlsplit

    hostvars = inventory_vars(host)
    if hostvars.get("lab_controller_address") is None:
        return []
    nowhere = (hostvars["lab_controller_address"], int(hostvars["lab_unreachable_port"]))
    return [
        model["alias"]
        for model in hostvars["litellm_extra_models"]
        if not model.get("fallbacks")
        and (urlsplit(model.get("api_base") or "").hostname, urlsplit(model.get("api_base") or "").port) == nowhere
    ]


def env_file(host, path):
    """The variables an env file gives its service, as the container's shell reads it (root only)."""
    with host.sudo():
        out = host.check_output("env -i /bin/sh -c %s", f"set -a && . {shlex.quote(path)} && exec env -0")
    pairs = (item.split("=", 1) for item in out.split("\0") if "=" in item)
    return {name: value for name, value in pairs if name not in ("PWD", "SHLVL", "_")}


def model_host_settings(host):
    """What a host serves itself, and whether gateways other than itself use it (then vLLM is on the tailnet)."""
    from ansible_collections.tailnet.llm.plugins.plugin_utils.backends import (
        GATEWAYS,
        local_backends,
        serves_other_gateways,
    )

    hostvars = inventory_vars(host)
    name, groups = hostvars["inventory_hostname"], hostvars["groups"]
    return {
        "local_backends": local_backends(hostvars["vllm_backends"]),
        "serves_others": serves_other_gateways(name, groups),
        "is_gateway": name in groups.get(GATEWAYS, []),
    }


def state_host_settings(host):
    """The state host's ports, database and user, from the inventory and the state_store role's vars."""
    hostvars = inventory_vars(host)
    role_vars = yaml.safe_load((REPO / "roles" / "state_store" / "vars" / "main.yml").read_text())
    return {
        "redis_port": int(hostvars["state_store_redis_port"]),
        "postgresql_port": int(role_vars["__state_store_postgresql_port"]),
        "database": hostvars["state_store_database"],
        "user": hostvars["state_store_database_user"],
    }


def on_gateway(host, command):
    """Run COMMAND (a shell command line) as root on a gateway, with the gateway's env file in its environment:
    its keys and passwords are in no command line."""
    base = gateway_settings(host)["base_dir"]
    with host.sudo():
        return host.run("bash -c %s", f"set -e; set -a; . {shlex.quote(base)}/.env; set +a; {command}")


def tailnet_ipv4(host):
    """The host's address in the tailnet's IPv4 range, where the fleet's hosts reach each other (tailnet.llm.fleet
    reads it from facts, which only a play has: here, from the host's interfaces)."""
    from ansible_collections.tailnet.llm.plugins.plugin_utils.firewall import TAILNET_RANGES

    tailnet = [ipaddress.ip_network(r) for r in TAILNET_RANGES]
    found = [a for a in global_addresses(host) if any(ipaddress.ip_address(a) in n for n in tailnet)]
    return next(a for a in found if ":" not in a)


def vllm_address(host):
    """The address a model host's vLLM listens on: loopback, or its tailnet IPv4 address when gateways other than
    itself use it."""
    return tailnet_ipv4(host) if model_host_settings(host)["serves_others"] else "127.0.0.1"


# Where tailnet.llm.ask_cli puts the client's key (root and the key's group only).
_ASK_CLI_VARS = yaml.safe_load((REPO / "roles/ask_cli/vars/main.yml").read_text())
CLIENT_KEY_FILE = _ASK_CLI_VARS["__ask_cli_key_file"]
USER_KEY_DIR = _ASK_CLI_VARS["__ask_cli_user_key_dir"]


def client_callers(host):
    """Who calls the gateways from the client HOST, with which key and limits, as the collection derives it from the
    inventory (plugin_utils.clients.client_callers); with each caller's key file on HOST as `key_file` and its own
    budget (llm_client_budget, or the user's entry's `budget`; None without) as `budget`."""
    from ansible_collections.tailnet.llm.plugins.plugin_utils.clients import client_callers

    hostvars = inventory_vars(host)
    budgets = {user["name"]: user.get("budget") for user in hostvars.get("llm_client_users") or []}
    return [
        {
            **caller,
            "key_file": f"{USER_KEY_DIR}/{caller['user']}" if caller["user"] else CLIENT_KEY_FILE,
            "budget": budgets.get(caller["user"]) if caller["user"] else hostvars.get("llm_client_budget"),
        }
        for caller in client_callers(hostvars["inventory_hostname"], hostvars)
    ]


def client_request(host, gateway, model, key_file=CLIENT_KEY_FILE):
    """HTTP status (a string; "0" without an answer) of a one-token chat completion to MODEL through GATEWAY, sent
    from the client HOST with the key in KEY_FILE there (by default the host's, which `ask` uses)."""
    body = {"model": model, "messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 1}
    return str(client_chat(host, gateway, body, timeout=60, key_file=key_file)[0])


def client_chat(host, gateway, body, timeout=120, key_file=CLIENT_KEY_FILE):
    """POST BODY (a chat completion, streamed or not) to GATEWAY from the client HOST with the key in KEY_FILE there
    (read from the file, on no command line); returns (http_status or 0, body text, headers with lower-case names)."""
    name = inventory_vars(gateway)["inventory_hostname"]
    url = f"http://{name}:{gateway_settings(gateway)['port']}/v1/chat/completions"
    command = (
        f"curl -sS -N -D - --max-time {timeout} -w '\\n%{{http_code}}' -H 'Content-Type: application/json' "
        f"{bearer(f'$(cat {key_file})')} --data-binary {shlex.quote(json.dumps(body))} {url}"
    )
    with host.sudo():
        return _curl_answer(host.run("bash -c %s", command), headers=True)


def secrets(host):
    """{service: {NAME: value}} of the secrets each service on the host gets: names from the inventory, values
    from the host's env files."""
    hostvars, gw, mh = inventory_vars(host), gateway_settings(host), model_host_settings(host)
    from_vault = hostvars["azure_keyvault_secrets"]
    services = [("litellm", gw["base_dir"])] if mh["is_gateway"] else []
    services += [("vllm", gw["vllm_base_dir"])] if mh["local_backends"] else []
    found = {}
    for service, base in services:
        names = set(hostvars[f"{service}_env_secrets"]) | set(from_vault.get(service) or {})
        values = env_file(host, f"{base}/.env") if names else {}
        found[service] = {name: values[name] for name in sorted(names) if name in values}
    return found


def bearer(value):
    """curl's header carrying the key that the shell expression VALUE gives (an env file's variable, a file's
    content), handed over a file descriptor: the key never appears on a command line."""
    return f"-H @<(printf 'Authorization: Bearer %s\\n' \"{value}\")"


def _curl_on_gateway(host, args):
    """Run `curl ARGS` as root on a gateway, in a shell that has the gateway's env file in its environment."""
    return on_gateway(host, f"curl {args}")


def backend_request(host, url, key_env=None):
    """GET URL from HOST (a gateway), with the key in KEY_ENV of the gateway's env file when given; returns the
    HTTP status (0 without an answer)."""
    auth = bearer(f"${key_env}") if key_env else ""
    result = _curl_on_gateway(host, f"-s -o /dev/null --max-time 20 -w '%{{http_code}}' {auth} {shlex.quote(url)}")
    return int(result.stdout) if result.stdout.isdigit() else 0


def gateway_request(host, path, key="master", body=None, stream=False, timeout=120, headers=False):
    """Call the gateway on the gateway host itself; returns (http_status or 0, body_text), and the response's
    headers (lower-case names) third when HEADERS.

    `key` is "master" (the master key from the env file, never on a command line), "none" or "wrong".
    """
    auth = {"master": bearer("$LITELLM_MASTER_KEY"), "wrong": '-H "Authorization: Bearer sk-wrong-$RANDOM"', "none": ""}
    data = ""
    if body is not None:
        data = "-H 'Content-Type: application/json' --data-binary " + shlex.quote(json.dumps(body))
    port = gateway_settings(host)["port"]
    result = _curl_on_gateway(
        host,
        f"-sS {'-N' if stream else ''} {'-D -' if headers else ''} --max-time {timeout} -w '\\n%{{http_code}}' "
        f"{auth[key]} {data} http://127.0.0.1:{port}{path}",
    )
    return _curl_answer(result, headers)


def _curl_answer(result, headers=False):
    """(http_status or 0, body text) of a `curl -w '\\n%{http_code}'` run, and its headers (lower-case names) third
    when HEADERS (curl was given `-D -`)."""
    if result.rc != 0:  # no HTTP answer at all (refused, timed out)
        return (0, result.stderr, {}) if headers else (0, result.stderr)
    text, _newline, status = result.stdout.rpartition("\n")
    if not headers:
        return int(status), text
    head, _blank_line, text = text.partition("\r\n\r\n")
    fields = (line.split(":", 1) for line in head.splitlines()[1:] if ":" in line)
    return int(status), text, {name.strip().lower(): value.strip() for name, value in fields}


def streamed_text(body):
    """The answer's text from an event stream of chat completion chunks; fails on an error event."""
    text = []
    for line in body.splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        event = json.loads(line[len("data: ") :])
        assert "error" not in event, event
        text += [choice.get("delta", {}).get("content") or "" for choice in event.get("choices", [])]
    return "".join(text)


def global_addresses(host):
    """Every global IPv4 and IPv6 address of a host."""
    out = host.check_output("ip -o addr show scope global")
    return [line.split()[3].split("/")[0] for line in out.splitlines()]


def source_for(host, address):
    """The source address `host` uses to reach `address`, or None when it has no route there."""
    result = host.run("ip -o route get %s", address)
    if result.rc != 0:
        return None
    words = result.stdout.split()
    return words[words.index("src") + 1] if "src" in words else None


# The monitoring host's Prometheus (on its loopback) and the dashboards the monitoring role provisions.
PROMETHEUS = "http://127.0.0.1:9090"
DASHBOARDS = REPO / "roles" / "monitoring" / "files" / "dashboards"
# The panel of LiteLLM's cooldowns: data only after a deployment was left out (a model host down, not a bounded load).
COOLDOWNS_PANEL = "sum by (host, litellm_model_name) (increase(litellm_deployment_cooled_down_total[5m]))"


def prometheus_api(host, path, **params):
    """The `data` of Prometheus's answer to GET /api/v1/PATH?PARAMS, asked on the monitoring HOST."""
    query = urllib.parse.urlencode(params)
    out = host.check_output("curl -sS --max-time 20 %s", f"{PROMETHEUS}/api/v1/{path}?{query}")
    answer = json.loads(out)
    assert answer["status"] == "success", answer
    return answer["data"]


def dashboard_queries():
    """(dashboard, panel title, PromQL) of every panel of the collection's dashboards."""
    return [
        (path.name, panel["title"], target["expr"])
        for path in sorted(DASHBOARDS.glob("*.json"))
        for panel in json.loads(path.read_text())["panels"]
        for target in panel.get("targets", [])
    ]


def url_host(address):
    return f"[{address}]" if ":" in address else address


# The inventories as the tailnet policy sees them (groups and the host variables it reads), without a play.
def lab_inventory():
    """(groups, hostvars) of the lab (extensions/molecule/stack): its platforms' groups, its host_vars' backends
    (each host has some: an empty inventory would make the tailnet policy tests pass on nothing) and accelerator
    profile (cpu: no GPU exporter)."""
    import yaml

    stack = REPO / "extensions" / "molecule" / "stack"
    platforms = yaml.safe_load((stack / "molecule.yml").read_text())["platforms"]
    groups, hostvars = {}, {}
    for platform in platforms:
        for group in platform["groups"]:
            groups.setdefault(group, []).append(platform["name"])
        # host_vars/NAME/: the host's own file and the lab's settings it links
        data = {}
        for path in sorted((stack / "host_vars" / platform["name"]).glob("*.yml")):
            data.update(yaml.safe_load(path.read_text()) or {})
        hostvars[platform["name"]] = {k: v for k, v in data.items() if k in ("vllm_backends", "vllm_accelerator")}
    served = [name for name, data in hostvars.items() if data.get("vllm_backends")]
    assert served == ["akira", "wintermute"], "the lab's backends moved"
    return groups, hostvars


def runbook_inventory():
    """(groups, hostvars) of inventory/hosts.yml, the runbook's tailnet (akira's backends from its host_vars)."""
    import yaml
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    inventory = InventoryManager(loader=DataLoader(), sources=[str(REPO / "inventory" / "hosts.yml")])
    groups = {name: [h.name for h in group.get_hosts()] for name, group in inventory.groups.items()}
    akira = yaml.safe_load((REPO / "inventory" / "host_vars" / "akira.yml").read_text())
    return groups, {host.name: akira if host.name == "akira" else {} for host in inventory.get_hosts()}
