"""A model host going down costs no request: the gateways retry on the name's other deployments.

vLLM is stopped on a model host during a bounded run of requests through every gateway, for the names that
host serves, each of which another model host serves too; every request must succeed. vLLM is started again
afterwards. Lab only (TAILNET_LLM_FAULTS=yes), as the other fault tests.
"""

import os
import shlex
import threading
import time

import helpers
import pytest

if os.environ.get("TAILNET_LLM_FAULTS") != "yes":
    raise pytest.UsageError("tests/testinfra/faults stop services: set TAILNET_LLM_FAULTS=yes to run them (lab only)")

testinfra_hosts = ["ansible://llm_model_hosts"]

REQUESTS = 24  # per gateway and name
SECONDS = 240  # for the whole run of one gateway


def _names_served_elsewhere_too(host):
    """The aliases this host serves, when every one of them has a deployment on another host (else None)."""
    from ansible_collections.tailnet.llm.plugins.plugin_utils.backends import local_backends

    hostvars = helpers.inventory_vars(host)
    name, groups = hostvars["inventory_hostname"], hostvars["groups"]
    mine = {model["alias"] for backend in local_backends(hostvars["vllm_backends"]) for model in backend["models"]}
    others = {
        model["alias"]
        for other in groups["llm_model_hosts"]
        if other != name
        for backend in local_backends(helpers.inventory_vars(helpers.inventory_host(host, other))["vllm_backends"])
        for model in backend["models"]
    }
    return sorted(mine) if mine and mine <= others else None


def _requests(gateway, names):
    """A shell loop on GATEWAY: REQUESTS chat completions per name, one after the other, each printing its HTTP
    status; the key comes from the gateway's env file."""
    settings = helpers.gateway_settings(gateway)
    body = shlex.quote('{"model": "%s", "messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 1}')
    return (
        f"set -a; . {shlex.quote(settings['base_dir'])}/.env; set +a; end=$((SECONDS + {SECONDS})); "
        f"for i in $(seq {REQUESTS}); do for m in {' '.join(names)}; do [ $SECONDS -lt $end ] || exit 0; "
        f"curl -s -o /dev/null --max-time 60 -w '%{{http_code}}\\n' "
        f"{helpers.bearer('$LITELLM_MASTER_KEY')} -H 'Content-Type: application/json' "
        f'--data-binary "$(printf {body} "$m")" http://127.0.0.1:{settings["port"]}/v1/chat/completions; done; done'
    )


def _run(gateway, command, out):
    """Run COMMAND as root on GATEWAY and put the words it prints into OUT (in a thread: no Ansible templating
    here, which is not thread-safe)."""
    with gateway.sudo():
        out.extend(gateway.run("bash -c %s", command).stdout.split())


def test_stopping_vllm_on_a_model_host_fails_no_request(host):
    names = _names_served_elsewhere_too(host)
    if names is None:
        pytest.skip("another model host does not serve every name this one does: stopping it would take names away")
    gateways = helpers.group_hosts(host, "llm_gateways")
    statuses = {gateway.backend.host: [] for gateway in gateways}
    runs = [
        threading.Thread(target=_run, args=(gateway, _requests(gateway, names), statuses[gateway.backend.host]))
        for gateway in gateways
    ]
    for run in runs:
        run.start()
    try:
        time.sleep(5)  # a few requests reach every deployment first
        with host.sudo():
            host.check_output("systemctl stop vllm")
        for run in runs:
            run.join(SECONDS + 60)
    finally:
        with host.sudo():
            host.check_output("systemctl start vllm")
    for gateway, found in statuses.items():
        assert len(found) >= REQUESTS, f"through {gateway}: only {len(found)} requests in {SECONDS} s"
        assert set(found) == {"200"}, f"through {gateway}: {found}"
    # back as before: every vLLM server of this host answers again
    address = helpers.url_host(helpers.vllm_address(host))
    for backend in helpers.model_host_settings(host)["local_backends"]:
        url = f"http://{address}:{backend['port']}/health"
        deadline = time.monotonic() + 300
        while host.run("curl -sf -o /dev/null --max-time 5 %s", url).rc != 0:
            assert time.monotonic() < deadline, f"{url} did not answer again"
            time.sleep(3)
