"""A host that reboots serves again by itself, and costs no request through the gateway that stays up.

One at a time, a model host, the gateway that is also a model host, the second gateway and the state host are
rebooted (`podman restart` of the lab's test host: systemd boots again as PID 1, with the host's fixed addresses,
as a tailnet host keeps its own) while a bounded stream of completions goes through a gateway that stays up, for
the names some other model host serves too. Every one of them must answer 200, and the rebooted host must serve
again (its vLLM servers answer the gateways and the gateway that stayed up sends them requests again, its gateway
answers completions, its Redis and PostgreSQL let the gateways in) within BOUND seconds, with no operator action.

A model host that comes back is out of the gateways' rotation until its cooldown ends (cooldown_time, 30 s, after
its last failed request): rebooting the next host before then leaves a name whose deployments are all out (429, or
500 when every retry goes to the host that is down). Each case therefore starts its reboot only once the gateway
that stays up has sent requests to every deployment of the names, and ends only once it sends the rebooted host
requests again, as an operator rebooting hosts one after another must wait.

It reboots the lab's hosts from this machine (podman): the lab only, TAILNET_LLM_FAULTS=yes, as the other fault
tests.
"""

import shlex
import subprocess
import threading
import time

import helpers
import pytest

testinfra_hosts = ["ansible://llm_state_hosts"]

# From the reboot to serving again. Measured in the lab (two shared cores, 2026-12-05, six runs): the state host
# 5-10 s, the second gateway 10-15 s, the model host 32-123 s, the gateway that is also a model host 106-196 s (vLLM
# loading its model is the longest part), and up to 230 s in seven runs of that case on 2026-12-06 while other
# tests loaded the same two cores.
BOUND = 300
REQUESTS = 400  # through the gateway that stays up, at most, one a second
STOP = "/run/tailnet-llm-reboot-test.stop"  # the stream ends when this file exists on its gateway
CHAT = {"messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 1}

# Which host each case reboots, from the inventory's groups.
KINDS = {
    "model-host": lambda g: [h for h in g["llm_model_hosts"] if h not in g["llm_gateways"]],
    "gateway-and-model-host": lambda g: [h for h in g["llm_gateways"] if h in g["llm_model_hosts"]],
    "second-gateway": lambda g: [h for h in g["llm_gateways"] if h not in g["llm_model_hosts"]],
    "state-host": lambda g: g["llm_state_hosts"],
}


def _aliases(backends):
    from ansible_collections.tailnet.llm.plugins.plugin_utils.backends import local_backends

    return {model["alias"] for backend in local_backends(backends) for model in backend["models"]}


def _names_without(host, victim, gateway):
    """The vLLM names GATEWAY routes that a model host other than VICTIM serves."""
    groups = helpers.inventory_vars(host)["groups"]
    elsewhere = set().union(
        *(
            _aliases(helpers.inventory_vars(helpers.inventory_host(host, other))["vllm_backends"])
            for other in groups["llm_model_hosts"]
            if other != victim
        )
    )
    routed = {
        model["alias"] for backend in helpers.gateway_settings(gateway)["backends"] for model in backend["models"]
    }
    return sorted(routed & elsewhere)


def _deployments(gateway, names):
    """{the URL of a vLLM server: its model host} of the deployments of NAMES on GATEWAY (its backends that serve one),
    as LiteLLM names the one that answered (its x-litellm-model-api-base header)."""
    from ansible_collections.tailnet.llm.plugins.plugin_utils.backends import LOCAL_HOSTS, backend_url

    return {
        backend_url(backend): gateway.backend.host if backend["host"] in LOCAL_HOSTS else backend["host"]
        for backend in helpers.gateway_settings(gateway)["backends"]
        if {model["alias"] for model in backend["models"]} & set(names)
    }


def _answered_by(answers, deployments):
    """The model hosts that answered among ANSWERS (the stream's lines: status and the answering server's URL)."""
    return {host for line in answers for url, host in deployments.items() if f" {url}/" in f"{line}/"}


def _collect(stream, answers):
    for line in stream.stdout:
        answers.append(line.strip())


def _stream(gateway, names):
    """A shell loop on GATEWAY: one completion a second (each name in turn), at most REQUESTS, until STOP exists,
    each printing its HTTP status and which vLLM server answered; the key comes from the gateway's env file."""
    settings = helpers.gateway_settings(gateway)
    body = shlex.quote('{"model": "%s", "messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 1}')
    return (
        f"rm -f {STOP}; set -a; . {shlex.quote(settings['base_dir'])}/.env; set +a; n=0; "
        f"while [ $n -lt {REQUESTS} ] && [ ! -e {STOP} ]; do for m in {' '.join(names)}; do n=$((n + 1)); "
        f"curl -s -o /dev/null --max-time 60 -w '%{{http_code}} %header{{x-litellm-model-api-base}}\\n' "
        f"{helpers.bearer('$LITELLM_MASTER_KEY')} -H 'Content-Type: application/json' "
        f'--data-binary "$(printf {body} "$m")" http://127.0.0.1:{settings["port"]}/v1/chat/completions; '
        "sleep 1; done; done"
    )


def _serving_checks(host, victim, gateway):
    """What the rebooted host serves, each as a function that tells whether it does now (from GATEWAY)."""
    groups = helpers.inventory_vars(host)["groups"]
    rebooted = helpers.inventory_host(host, victim)
    checks = []
    if victim in groups["llm_model_hosts"]:
        address = helpers.url_host(helpers.vllm_address(rebooted))
        for backend in helpers.model_host_settings(rebooted)["local_backends"]:
            url = f"http://{address}:{backend['port']}/health"
            # a gateway reaches it; the host itself when it is the only gateway that uses it
            via = gateway if helpers.model_host_settings(rebooted)["serves_others"] else rebooted
            checks.append((f"vLLM {url}", lambda url=url, via=via: helpers.backend_request(via, url) == 200))
    if victim in groups["llm_gateways"]:
        routed = {
            model["alias"] for backend in helpers.gateway_settings(rebooted)["backends"] for model in backend["models"]
        }
        for name in sorted(routed):
            body = {**CHAT, "model": name}
            checks.append(
                (
                    f"a completion of {name} through {victim}",
                    lambda body=body: (
                        helpers.gateway_request(rebooted, "/v1/chat/completions", body=body, timeout=30)[0] == 200
                    ),
                )
            )
    if victim in groups["llm_state_hosts"]:
        settings = helpers.state_host_settings(rebooted)
        redis = (
            f'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli --no-auth-warning -h {victim} -p {settings["redis_port"]} PING'
        )
        url = f"host={victim} port={settings['postgresql_port']} dbname={settings['database']} user={settings['user']}"
        psql = f'PGPASSWORD="$DATABASE_PASSWORD" psql {shlex.quote(url)} -XAtc "select 1"'
        for each in helpers.group_hosts(host, "llm_gateways"):
            name = each.backend.host
            checks.append((f"Redis from {name}", lambda g=each: helpers.on_gateway(g, redis).stdout.strip() == "PONG"))
            checks.append((f"PostgreSQL from {name}", lambda g=each: helpers.on_gateway(g, psql).stdout.strip() == "1"))
            # and each gateway answers with its state back (its LiteLLM connects to Redis again on its next use)
            body = {**CHAT, "model": _names_without(host, victim, each)[0]}
            checks.append(
                (
                    f"a completion through {name}",
                    lambda g=each, body=body: (
                        helpers.gateway_request(g, "/v1/chat/completions", body=body, timeout=30)[0] == 200
                    ),
                )
            )
    return checks


def _answers(serves):
    """Whether SERVES says yes; no while the rebooted host does not take SSH connections yet."""
    try:
        return serves()
    except RuntimeError:  # testinfra: ssh refused or timed out (exit 255)
        return False


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_rebooted_host_serves_again_and_costs_no_request(host, kind):
    groups = helpers.inventory_vars(host)["groups"]
    victims = KINDS[kind](groups)
    if not victims:
        pytest.skip(f"the inventory has no {kind}")
    victim = victims[0]
    if subprocess.run(["podman", "container", "exists", victim], check=False).returncode != 0:
        pytest.skip(f"{victim} is not a test host of this machine's lab: it cannot be rebooted here")
    gateway = next(helpers.inventory_host(host, g) for g in groups["llm_gateways"] if g != victim)
    names = _names_without(host, victim, gateway)
    assert names, f"no name {gateway.backend.host} routes is served by a model host other than {victim}"
    checks = _serving_checks(host, victim, gateway)
    # An earlier fault test may have just restarted one of its services: the host serves first, within BOUND.
    deadline = time.monotonic() + BOUND
    failing = [what for what, serves in checks if not _answers(serves)]
    while failing and time.monotonic() < deadline:
        time.sleep(3)
        failing = [what for what, serves in checks if not _answers(serves)]
    assert not failing, f"before the reboot, {victim} does not serve within {BOUND} s: {failing}"

    # The stream runs from this machine through podman (as the reboot does), apart from testinfra's connections; a
    # thread collects its lines as they come.
    stream = subprocess.Popen(
        ["podman", "exec", gateway.backend.host, "bash", "-c", _stream(gateway, names)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    answers = []
    reader = threading.Thread(target=_collect, args=(stream, answers), daemon=True)
    reader.start()
    deployments = _deployments(gateway, names)
    try:
        # Every deployment of the names in use first: a host rebooted just before (an earlier case) can still be out
        # of the gateway's rotation (its cooldown), and would leave the names no deployment while this one reboots.
        deadline = time.monotonic() + BOUND
        while _answered_by(answers, deployments) != set(deployments.values()) and time.monotonic() < deadline:
            time.sleep(1)
        unused = set(deployments.values()) - _answered_by(answers, deployments)
        assert not unused, f"before the reboot, {gateway.backend.host} sends no request to {sorted(unused)}"
        started = time.monotonic()
        subprocess.run(["podman", "restart", "-t", "30", victim], check=True, capture_output=True)
        booted = len(answers)
        if victim in deployments.values():
            # and the gateway that stayed up sends it requests again
            checks.append(
                (
                    f"answers from {victim} through {gateway.backend.host}",
                    lambda: victim in _answered_by(answers[booted:], deployments),
                )
            )
        pending = list(checks)
        while pending and time.monotonic() - started < BOUND:
            pending = [(what, serves) for what, serves in pending if not _answers(serves)]
            if pending:
                time.sleep(3)
        took = time.monotonic() - started
        time.sleep(3)  # a few requests after
    finally:
        subprocess.run(["podman", "exec", gateway.backend.host, "touch", STOP], check=False, capture_output=True)
        stream.wait(timeout=120)
        reader.join(timeout=10)
    statuses = [line.split()[0] for line in answers if line]
    print(
        f"{kind} {victim}: served again {took:.0f} s after the reboot; {len(statuses)} requests through "
        f"{gateway.backend.host}"
    )
    assert not pending, f"{victim} does not serve {BOUND} s after its reboot: {[what for what, _ in pending]}"
    assert len(statuses) >= 5, f"only {len(statuses)} requests through {gateway.backend.host}"
    failed = [status for status in statuses if status != "200"]
    if not failed:
        return
    with gateway.sudo():
        log = gateway.run(
            "journalctl -u litellm --since %s --no-pager | grep -iE 'error|exception|cooldown' | tail -n 30",
            f"-{int(took) + 60}s",
        ).stdout
    why = f"{len(failed)} of {len(statuses)} requests through {gateway.backend.host} failed while {victim} rebooted"
    pytest.fail(f"{why}: {answers}\nLiteLLM's errors there:\n{log}")
