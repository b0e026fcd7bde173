"""A deploy whose change breaks a gateway is rolled back on that gateway, and the rollout stops there.

The test deploys, from this machine as an operator would, to every gateway a configuration with an alias whose
model no backend serves. The rollout changes one gateway at a time, the first of llm_gateways first: that one
is rolled back, no other gateway is touched, and completions through the others keep working throughout. It
changes the lab (and puts it back): TAILNET_LLM_FAULTS=yes only, as the other fault tests.
"""

import json
import subprocess
import threading
import time

import helpers
import pytest

testinfra_hosts = ["ansible://llm_gateways"]

# Marked strict: a model of litellm_extra_models that fails its probe is otherwise only reported.
BROKEN = {
    "alias": "lab/broken",
    "model": "hosted_vllm/no-such-model",
    "api_base": "http://127.0.0.1:8000/v1",
    "strict": True,
}
CHAT = {"messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 1, "model": "default"}
REQUESTS = 300  # through each other gateway at most while the deploy runs
# between two of those requests: a steady stream of them, not back-to-back load that would starve the rolled-out
# gateway of CPU (the lab's hosts share two cores) and slow the deploy under test
PAUSE = 0.5


def _state(host):
    """config.yaml, the backups next to the files, and when the gateway's unit last started."""
    base = helpers.gateway_settings(host)["base_dir"]
    with host.sudo():
        config = host.file(f"{base}/config.yaml").content_string
        backups = host.run("ls -A %s /etc/systemd/system", base).stdout.split()
        started = host.check_output("systemctl show -P ActiveEnterTimestampMonotonic litellm")
    return config, sorted(name for name in backups if name.endswith("~")), started


def _keep_asking(gateway, statuses, done):
    while not done.is_set() and len(statuses) < REQUESTS:
        statuses.append(helpers.gateway_request(gateway, "/v1/chat/completions", body=CHAT, timeout=60)[0])
        done.wait(PAUSE)


def test_a_breaking_change_is_rolled_back_on_the_first_gateway_only(host, tmp_path):
    hostvars = helpers.inventory_vars(host)
    name, gateways = hostvars["inventory_hostname"], hostvars["groups"]["llm_gateways"]
    if name != gateways[0]:
        pytest.skip(f"the rollout changes {gateways[0]} first: its test checks that {name} is never touched")
    others = [helpers.inventory_host(host, other) for other in gateways[1:]]
    before = {gateway.backend.host: _state(gateway) for gateway in [host, *others]}
    statuses = {other.backend.host: [] for other in others}
    done = threading.Event()
    askers = [threading.Thread(target=_keep_asking, args=(o, statuses[o.backend.host], done)) for o in others]
    extra = tmp_path / "broken.json"
    extra.write_text(json.dumps({"litellm_extra_models": [BROKEN]}))
    for asker in askers:
        asker.start()
    try:
        result = subprocess.run(
            [
                str(helpers.REPO / ".venv/bin/ansible-playbook"),
                "-i",
                host.backend.ansible_inventory,
                "tailnet.llm.deploy_litellm",
                "--limit",
                "llm_gateways",
                "-e",
                f"@{extra}",
            ],
            env=helpers.ansible_env(ANSIBLE_NOCOLOR="1", MOLECULE_PROJECT_DIRECTORY=str(helpers.REPO)),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    finally:
        time.sleep(2)  # a last request after the deploy ended
        done.set()
        for asker in askers:
            asker.join(120)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert f"host {name}: litellm failed after the change: lab/broken answered" in output, output[-3000:]
    assert "Rolled back: the previous" in output
    config, backups, _ = _state(host)
    assert config == before[name][0], "config.yaml is not the previous one"
    assert backups == before[name][1], "backups were left behind"
    for other in others:
        assert _state(other) == before[other.backend.host], f"{other.backend.host} was touched"
        found = statuses[other.backend.host]
        assert set(found) == {200}, f"through {other.backend.host}: {found}"
    status, body = helpers.gateway_request(host, "/v1/chat/completions", body=CHAT)
    assert status == 200, body[:500]
