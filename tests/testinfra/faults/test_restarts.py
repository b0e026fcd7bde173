"""Services that die come back by themselves: systemd restarts the gateway, podman each vLLM server.

These tests kill services: the lab runs them, a real gateway never does. `make validate-litellm` leaves
this folder out; running it on purpose takes TAILNET_LLM_FAULTS=yes (`make test-faults`, `make fault-litellm`).
"""

import time

import helpers
import pytest

testinfra_hosts = ["ansible://llm_gateways"]


def _wait(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(3)
    return False


def _started_at(host, container):
    return host.check_output("podman inspect --format '{{.State.StartedAt}}' %s", container)


def test_systemd_brings_the_gateway_back_after_its_container_is_killed(host):
    with host.sudo():
        before = int(host.check_output("systemctl show -P NRestarts litellm"))
        host.check_output("podman kill litellm")
        restarted = _wait(lambda: int(host.check_output("systemctl show -P NRestarts litellm")) > before, 60)
    assert restarted
    assert _wait(lambda: helpers.gateway_request(host, "/health/liveliness", key="none", timeout=5)[0] == 200, 180)


def test_a_killed_vllm_server_comes_back_alone(host):
    """Kill the last local vLLM server's process (as the OOM killer would): it alone restarts, and serves again."""
    backends = helpers.gateway_settings(host)["local_backends"]
    if not backends:
        pytest.skip("this gateway serves no backend itself")
    victim_backend = backends[-1]
    victim = f"vllm-{victim_backend['name']}"
    url = f"http://{helpers.url_host(helpers.vllm_address(host))}:{victim_backend['port']}/health"
    with host.sudo():
        others = {f"vllm-{b['name']}": _started_at(host, f"vllm-{b['name']}") for b in backends[:-1]}
        restarts = _restart_count(host, victim)
        host.check_output("kill -KILL %s", host.check_output("podman inspect --format '{{.State.Pid}}' %s", victim))
        assert _wait(lambda: _restart_count(host, victim) > restarts, 60), f"{victim} was not restarted"
        assert _wait(lambda: host.run("curl -sf -o /dev/null --max-time 5 %s", url).rc == 0, 300)
        assert {name: _started_at(host, name) for name in others} == others, "another vLLM server restarted"
    assert _wait(lambda: helpers.gateway_request(host, "/health/liveliness", key="none", timeout=5)[0] == 200, 60)


def _restart_count(host, container):
    return int(host.check_output("podman inspect --format '{{.RestartCount}}' %s", container))
