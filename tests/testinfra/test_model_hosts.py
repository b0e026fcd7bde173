"""The model hosts: vLLM, checked from the host itself. Changes nothing.

Every host in llm_model_hosts or llm_gateways (once each; a gateway may serve backends
itself). vLLM listens on loopback, unless gateways other than the host use it: then on the host's tailnet
address only (and it wants the key; firewalld lets only those gateways in, tested from the clients).
"""

import re

import helpers

testinfra_hosts = ["ansible://llm_gateways", "ansible://llm_model_hosts"]


def _vllm_containers(host):
    with host.sudo():
        return host.check_output("podman ps -q --no-trunc --filter label=com.docker.compose.project=vllm").split()


def test_vllm_runs_exactly_when_the_host_serves_backends(host):
    served = helpers.model_host_settings(host)["local_backends"]
    assert len(_vllm_containers(host)) == len(served)
    if served:
        unit = host.service("vllm")
        assert unit.is_enabled
        assert unit.is_running


def test_vllm_listens_where_its_gateways_reach_it_only(host):
    address = helpers.vllm_address(host)
    for backend in helpers.model_host_settings(host)["local_backends"]:
        port = backend["port"]
        assert host.socket(f"tcp://{address}:{port}").is_listening, f"vLLM is not on {address}:{port}"
        assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening
        assert not host.socket(f"tcp://:::{port}").is_listening


def test_no_vllm_process_listens_anywhere_else(host):
    """vLLM's API and its own worker sockets: every listening socket of a vLLM container is on loopback, or is
    the API on the address the gateways reach."""
    address = helpers.vllm_address(host)
    api = {f"{helpers.url_host(address)}:{b['port']}" for b in helpers.model_host_settings(host)["local_backends"]}
    ids = _vllm_containers(host)
    with host.sudo():
        listening = host.check_output("ss -Hltnp").splitlines()
        exposed = []
        for line in listening:
            local = line.split()[3]
            if local.rsplit(":", 1)[0] in ("127.0.0.1", "[::1]") or local in api:
                continue
            for pid in re.findall(r"pid=(\d+)", line):
                cgroup = host.run("cat /proc/%s/cgroup", pid).stdout
                if any(container in cgroup for container in ids):
                    exposed.append(local)
    assert not exposed, f"vLLM listens on {sorted(set(exposed))}"
