"""The collection as an operator gets it: the tarball `ansible-galaxy collection build` makes, installed with
`ansible-galaxy collection install` into an empty directory.

- The tarball holds the collection only.
- Driven by a fresh inventory of the runbook's hosts, groups and host_vars (no group_vars: the site facts the
  repository keeps in group_vars are written into each host's host_vars), the installed collection renders every
  host's files exactly as this tree does with this repository's inventory: the wiring between hosts is the
  collection's, not the inventory's.
- A gateway's vllm_backends, in its host_vars or in the play's vars, become its config.yaml through the litellm
  role alone, with no group at all.
"""

import json
import re
import shutil
import subprocess
import sys

import helpers
import pytest
import yaml

INVENTORY = helpers.REPO / "inventory"
# What the tarball may hold, besides its manifest: the collection's own folders, its documents, and what
# ansible-test runs (tests/unit, tests/sanity and their helper module tests/helpers.py).
ALLOWED = re.compile(
    r"^(MANIFEST\.json|FILES\.json|README\.md|LICENSE|CHANGELOG\.(md|rst)"
    r"|(meta|roles|plugins|playbooks|docs|changelogs|tests/unit|tests/sanity)(/.*)?|tests/?|tests/helpers\.py)$"
)


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [str(helpers.REPO / ".venv/bin/ansible-galaxy"), "collection", "build", "--output-path", str(out), "."],
        cwd=helpers.REPO,
        env=helpers.ansible_env(),
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("tailnet-llm-*.tar.gz")
    return found


@pytest.fixture(scope="module")
def installed(tarball, tmp_path_factory):
    """The collections path of an empty directory the tarball was installed into."""
    path = tmp_path_factory.mktemp("collections")
    subprocess.run(
        [
            str(helpers.REPO / ".venv/bin/ansible-galaxy"),
            "collection",
            "install",
            "--no-deps",
            "-p",
            str(path),
            str(tarball),
        ],
        env=helpers.ansible_env(ANSIBLE_COLLECTIONS_PATH=str(path)),
        check=True,
        capture_output=True,
    )
    assert (path / "ansible_collections/tailnet/llm/MANIFEST.json").is_file()
    return path


def test_the_tarball_holds_the_collection_only(tarball):
    names = subprocess.run(["tar", "tzf", str(tarball)], check=True, capture_output=True, text=True).stdout.split()
    stray = [name for name in names if not ALLOWED.match(name.rstrip("/"))]
    assert not stray, f"the tarball holds more than the collection: {stray}"
    for needed in ("MANIFEST.json", "roles/litellm/tasks/main.yml", "plugins/plugin_utils/fleet.py", "LICENSE"):
        assert needed in names, needed


def _flat_inventory(directory):
    """The runbook's inventory as hosts, groups and host_vars only: each host's host_vars are the group_vars that
    apply to it (all, then its groups, parents first) under its own host_vars, as Ansible merges them."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    inventory = InventoryManager(loader=DataLoader(), sources=[str(INVENTORY / "hosts.yml")])
    (directory / "host_vars").mkdir(parents=True)
    shutil.copy(INVENTORY / "hosts.yml", directory / "hosts.yml")

    def group_vars(name):
        files = [INVENTORY / "group_vars" / f"{name}.yml", *sorted((INVENTORY / "group_vars" / name).glob("*.yml"))]
        merged = {}
        for path in files:
            if path.is_file():
                merged.update(yaml.safe_load(path.read_text()) or {})
        return merged

    for host in inventory.get_hosts():
        merged = group_vars("all")
        for group in sorted(host.get_groups(), key=lambda g: g.depth):
            merged.update(group_vars(group.name))
        own = INVENTORY / "host_vars" / f"{host.name}.yml"
        merged.update(yaml.safe_load(own.read_text()) if own.is_file() else {})
        (directory / "host_vars" / f"{host.name}.yml").write_text(yaml.safe_dump(merged, sort_keys=False))
    assert not (directory / "group_vars").exists()
    return directory / "hosts.yml"


def _role(name, when):
    """Include a role's checks as tailnet.llm.deploy_litellm does, its defaults and vars then in the play's scope."""
    return {
        "name": f"Check the input of {name}",
        "ansible.builtin.include_role": {"name": f"tailnet.llm.{name}", "tasks_from": "validate", "public": True},
        "when": when,
    }


GATEWAY = "inventory_hostname in groups['llm_gateways'] | default([])"
MODEL_HOST = "vllm_backends | default([]) | length > 0"
CLIENT = "inventory_hostname in groups['llm_clients'] | default([])"


def _render_play(root):
    """Every host's files, rendered by the collection at ROOT after its roles' checks, as a deploy would (Key Vault
    stands in: each secret the gateway maps, and each client's key, get a stand-in value)."""
    template = "{{ lookup('ansible.builtin.template', '" + str(root) + "/roles/%s/templates/%s') }}"
    return {
        "name": "Render every host's files",
        "hosts": "all",
        "connection": "local",
        "gather_facts": False,
        # env.j2 is rendered by compose_service for every service.
        "vars_files": [str(root / "roles/compose_service" / part / "main.yml") for part in ("defaults", "vars")],
        "vars": {"ansible_python_interpreter": sys.executable, "compose_service_dir": "/"},
        "tasks": [
            {
                "name": "Stand in for Key Vault",
                "ansible.builtin.set_fact": {
                    "llm_client_key": "sk-stand-in-{{ inventory_hostname }}",
                    "litellm_env_secrets": "{{ dict((azure_keyvault_secrets.litellm | default({})).keys()"
                    " | zip(['sk-stand-in'] * 99)) }}",
                },
            },
            _role("litellm", GATEWAY),
            _role("firewalld", GATEWAY),
            _role("vllm", MODEL_HOST),
            # ask_cli's checks read the client's system (the controller's here, on both sides alike)
            {"name": "Facts", "ansible.builtin.setup": {"gather_subset": ["min"]}, "when": CLIENT},
            _role("ask_cli", CLIENT),
            {
                "name": "gateway",
                "ansible.builtin.debug": {
                    "msg": {
                        "config.yaml": template % ("litellm", "config.yaml.j2"),
                        "docker-compose.yml": template % ("litellm", "docker-compose.yml.j2"),
                        "clients.json": template % ("litellm", "clients.json.j2"),
                        ".env": template % ("compose_service", "env.j2"),
                        "firewalld": "{{ firewalld_sources }} {{ firewalld_ports }}",
                    }
                },
                "vars": {"compose_service_name": "litellm", "compose_service_env": "{{ __litellm_env }}"},
                "when": GATEWAY,
            },
            {
                "name": "model host",
                "ansible.builtin.debug": {
                    "msg": {
                        "docker-compose.yml": template % ("vllm", "docker-compose.yml.j2"),
                        ".env": template % ("compose_service", "env.j2"),
                        "firewalld": "{{ vllm_gateway_sources }}",
                    }
                },
                "vars": {"compose_service_name": "vllm", "compose_service_env": "{{ __vllm_env }}"},
                "when": MODEL_HOST,
            },
            {
                "name": "client",
                "ansible.builtin.debug": {"msg": {"ask.env": template % ("ask_cli", "ask.env.j2")}},
                "when": CLIENT,
            },
        ],
    }


def _render(inventory, collections, workdir, play=None):
    """{host: {task name: rendered files}} of a run of PLAY (by default every host's files) with the collection
    found in COLLECTIONS."""
    root = collections / "ansible_collections" / "tailnet" / "llm"
    playbook = workdir / "render.json"
    playbook.write_text(json.dumps([play or _render_play(root)]))
    run = helpers.ansible_playbook("-i", inventory, playbook, cwd=workdir, ANSIBLE_COLLECTIONS_PATH=str(collections))
    assert run.returncode == 0, "\n".join(run.failures()) or run.output[-2000:]
    rendered = {
        host: {name: result["msg"] for name, result in tasks.items() if "msg" in result}
        for host, tasks in run.results().items()
    }
    return {host: files for host, files in rendered.items() if files}


def test_an_inventory_without_group_vars_renders_what_this_repository_renders(installed, tmp_path):
    fresh = _flat_inventory(tmp_path / "inventory")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    expected = _render(INVENTORY / "hosts.yml", helpers.COLLECTIONS, tmp_path / "a")
    got = _render(fresh, installed, tmp_path / "b")
    assert set(expected) == {"akira", "motoko", "armitage", "count-zero"}
    assert got == expected
    # The gateway routes to its own backends and lets the clients in, derived by the collection.
    config = yaml.safe_load(got["akira"]["gateway"]["config.yaml"])
    assert "akira/qwen2.5-7b" in [model["model_name"] for model in config["model_list"]]
    assert [c["name"] for c in json.loads(got["akira"]["gateway"]["clients.json"])] == [
        "motoko",
        "armitage",
        "count-zero",
    ]
    assert "ASK_BASE_URL=http://akira:4000" in got["motoko"]["client"]["ask.env"]


def test_this_repositorys_inventory_holds_site_facts_only():
    """No variable of the inventory wires hosts together (reads groups or other hosts' variables): the roles do."""
    wiring = re.compile(
        r"\b(groups|hostvars)\b|tailnet\.llm\.(fleet|gateway_backends|gateway_clients|tailnet_addresses)"
    )
    found = [
        f"{path.relative_to(helpers.REPO)}:{number}"
        for path in sorted(INVENTORY.rglob("*.yml"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if wiring.search(line.split("#")[0])
    ]
    assert not found, f"the inventory wires hosts together: {found}"


@pytest.mark.parametrize("where", ["host_vars", "play vars"])
def test_a_gateways_own_backends_become_its_config_through_the_role_alone(installed, tmp_path, where):
    """The design card: akira's vllm_backends, with no group and no other variable, become its config.yaml."""
    backends = yaml.safe_load((INVENTORY / "host_vars" / "akira.yml").read_text())["vllm_backends"]
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"akira": None}}}))
    if where == "host_vars":
        (tmp_path / "host_vars" / "akira.yml").write_text(yaml.safe_dump({"vllm_backends": backends}))
    root = installed / "ansible_collections" / "tailnet" / "llm"
    play = _render_play(root)
    play["vars"].update({"vllm_backends": backends} if where == "play vars" else {})
    play["vars"]["litellm_env_secrets"] = {"LITELLM_MASTER_KEY": "sk-stand-in"}
    # the role alone, on a host in no group
    gateway = play["tasks"][6]
    gateway["ansible.builtin.debug"]["msg"] = {"config.yaml": gateway["ansible.builtin.debug"]["msg"]["config.yaml"]}
    play["tasks"] = [_role("litellm", True), {**gateway, "when": True}]
    rendered = _render(tmp_path / "hosts.yml", installed, tmp_path, play=play)
    config = yaml.safe_load(rendered["akira"]["gateway"]["config.yaml"])
    assert [(m["model_name"], m["litellm_params"]["api_base"]) for m in config["model_list"]] == [
        ("akira/qwen2.5-7b", "http://127.0.0.1:8000/v1"),
        ("default", "http://127.0.0.1:8000/v1"),
    ]
