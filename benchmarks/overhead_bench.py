#!/usr/bin/env python3
"""Latency the LiteLLM gateway adds to a short chat completion, against a backend that answers at once.

Three paths, measured side by side in one run, their requests interleaved round by round (the order
rotates every round) so that this noisy 2-core machine's hiccups hit them alike:

  direct     the benchmark backend (tests/servers/fast_openai.py: a stdlib OpenAI-compatible server
             that answers at once), so that the gateway's own time is not hidden behind a model's;
  defaults   the real LiteLLM proxy (build/venvs/litellm) with LiteLLM's defaults: a config with only the
             model_list entry (hosted_vllm/<id> at the backend's api_base) and a master key;
  role       the real LiteLLM proxy with what this collection deploys: config.yaml, .env and
             docker-compose.yml rendered by Ansible itself (ansible.builtin.template, the role's defaults
             and vars, litellm_backends pointing at the backend), started as the compose file starts it
             (its entrypoint sources the rendered .env, then `litellm` with its command's flags).

  metrics    the role's proxy as a gateway runs it when the inventory has a monitoring host (litellm_metrics:
             LiteLLM's prometheus callback on, its samples in PROMETHEUS_MULTIPROC_DIR, LiteLLM's metrics
             server beside it on its own port): against `role` (the callback off), the cost of the metrics.

Both proxies get the same CLI flags and number of workers as the role's compose command (LiteLLM's
default of one worker); the one difference from a deployment is that they listen on 127.0.0.1 (the role
binds every address). Every client connection is HTTP/1.1 keep-alive, one per path.
`--variant 'NAME={"config": {...}, "model_info": {...}, "env": {...}, "args": [...]}'` adds more paths:
the role's proxy with its config merged (recursively) with config, every model_list entry's model_info
with model_info, env added to its environment and args to its command, to find out what a setting
costs or saves.

Goals (issues): the collection's config adds at most 8 ms at p50 over the direct backend (LiteLLM's
defaults added 13 ms in front of llama.cpp on these machines); the metrics add at most 1 ms at p50 over
the callback off.
Bounded: --warmup and --requests per path, and --seconds for the whole run (each server's start is
bounded too, by tests/servers/loopback.py).

    PYTHONPATH=tests:tests/servers .venv/bin/python benchmarks/overhead_bench.py [--requests 200] [--seconds 300]
"""

import argparse
import contextlib
import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import loopback  # tests/servers, on PYTHONPATH (make bench-overhead sets it)
from helpers import REPO, free_port

FAST_SERVER = REPO / "tests" / "servers" / "fast_openai.py"
MODEL_ID = "smollm2-135m"  # the id the backend serves, as the lab's vLLM does
ALIAS = "akira/smollm2-135m"  # the name clients ask the gateways for
GOAL_ADDED_P50_MS = 8.0
GOAL_METRICS_P50_MS = 1.0
MESSAGES = [{"role": "user", "content": "Reply with one word: hello"}]
LITELLM = REPO / "build" / "venvs" / "litellm" / "bin" / "litellm"


def ansible_playbook():
    """ansible-playbook of the venv running this script (make's .venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "ansible-playbook"
    return str(beside) if beside.exists() else "ansible-playbook"


def render_role(workdir, backend_port, proxy_port, key, variants, metrics_port):
    """Render the litellm role's files into WORKDIR with Ansible, as the role does on a gateway.

    The play reads the role's defaults and vars (and compose_service's, whose env template and
    entrypoint the role uses), with litellm_backends naming the benchmark backend. It writes
    config.yaml, .env (mode 0600) and docker-compose.yml, then compose-service.json: the compose file's
    litellm service as JSON (Ansible parses the YAML, so this script needs no YAML parser), and
    config-NAME.yaml per variant: the rendered config merged with the variant's settings, and
    config-metrics.yaml and compose-service-metrics.json: the same with litellm_metrics on (METRICS_PORT).
    """
    role = REPO / "roles" / "litellm"
    compose_role = REPO / "roles" / "compose_service"
    tasks = [
        {
            "name": f"Render {dest}",
            "ansible.builtin.template": {"src": str(src), "dest": str(workdir / dest), "mode": mode},
        }
        for src, dest, mode in (
            (role / "templates" / "config.yaml.j2", "config.yaml", "0644"),
            (compose_role / "templates" / "env.j2", ".env", "0600"),
            (role / "templates" / "docker-compose.yml.j2", "docker-compose.yml", "0644"),
        )
    ]
    tasks.append(
        {
            "name": "Write the compose service as JSON",
            "ansible.builtin.copy": {
                "content": "{{ (lookup('ansible.builtin.file', '%s') | from_yaml).services.litellm | to_json }}"
                % (workdir / "docker-compose.yml"),
                "dest": str(workdir / "compose-service.json"),
                "mode": "0644",
            },
        }
    )
    metrics_vars = {"litellm_metrics": True, "litellm_metrics_port": metrics_port}
    tasks += [
        {
            "name": "Render the config with the metrics on",
            "ansible.builtin.template": {
                "src": str(role / "templates" / "config.yaml.j2"),
                "dest": str(workdir / "config-metrics.yaml"),
                "mode": "0644",
            },
            "vars": metrics_vars,
        },
        {
            "name": "Write the compose service with the metrics on as JSON",
            "ansible.builtin.copy": {
                "content": "{{ (lookup('ansible.builtin.template', '%s') | from_yaml).services.litellm | to_json }}"
                % (role / "templates" / "docker-compose.yml.j2"),
                "dest": str(workdir / "compose-service-metrics.json"),
                "mode": "0644",
            },
            "vars": metrics_vars,
        },
    ]
    for name, variant in variants.items():
        tasks.append(
            {
                "name": f"Write the config of variant {name}",
                "ansible.builtin.copy": {
                    # config merged into the whole file, model_info into every model_list entry's
                    "content": "{%% set c = lookup('ansible.builtin.file', '%s') | from_yaml"
                    " | combine(__config, recursive=True) %%}"
                    "{{ c | combine({'model_list': c.model_list | map('combine', {'model_info': __model_info},"
                    " recursive=True) | list}) | to_nice_yaml(indent=2) }}" % (workdir / "config.yaml"),
                    "dest": str(workdir / f"config-{name}.yaml"),
                    "mode": "0644",
                },
                "vars": {"__config": variant.get("config", {}), "__model_info": variant.get("model_info", {})},
            }
        )
    variables = {
        "ansible_python_interpreter": sys.executable,
        # What roles/litellm/tasks/main.yml passes to compose_service.
        "compose_service_name": "{{ __litellm_service }}",
        "compose_service_dir": "{{ litellm_base_dir }}",
        "compose_service_env": "{{ __litellm_env }}",
        # The inventory of this benchmark: one backend, the fast server, and a master key.
        "litellm_base_dir": str(workdir),
        "litellm_port": proxy_port,
        "litellm_bind_address": "127.0.0.1",  # loopback only (the role's default is every address)
        "litellm_backends": [
            {
                "name": "fast-openai",
                "host": "127.0.0.1",
                "port": backend_port,
                "models": [{"id": MODEL_ID, "alias": ALIAS, "max_model_len": 2048}],
            }
        ],
        "litellm_env_secrets": {"LITELLM_MASTER_KEY": key},
    }
    play = {
        "name": "Render the litellm role's files for the overhead benchmark",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars_files": [
            str(compose_role / "defaults" / "main.yml"),
            str(compose_role / "vars" / "main.yml"),
            str(role / "defaults" / "main.yml"),
            str(role / "vars" / "main.yml"),
        ],
        # Block vars take precedence over vars_files (the role's defaults and vars), as a host's
        # inventory variables do over a role's defaults.
        "tasks": [{"name": "Render the role's files", "vars": variables, "block": tasks}],
    }
    playbook = workdir / "render.json"  # holds the key: the work directory is private (mkdtemp, 0700)
    playbook.write_text(json.dumps([play]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(REPO / "build" / "collections"),
        ANSIBLE_HOME=str(workdir / "ansible"),
    )
    result = subprocess.run(
        [ansible_playbook(), "-i", "localhost,", str(playbook)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"rendering the role's files failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
    return (
        json.loads((workdir / "compose-service.json").read_text()),
        json.loads((workdir / "compose-service-metrics.json").read_text()),
    )


def role_argv(service, workdir, config=None):
    """The compose service's entrypoint and command, run on this machine instead of in the container.

    Every container path of the service's volumes becomes its file under WORKDIR (the env file that the
    entrypoint sources; /app/config.yaml, or CONFIG for a variant), and the entrypoint's last word, the
    image's `litellm`, becomes the venv's. Everything else is as rendered.
    """
    mounts = {}
    for volume in service["volumes"]:
        source, target = volume.split(":")[:2]
        mounts[target] = Path(workdir, source).resolve()
    if config is not None:
        mounts["/app/config.yaml"] = config

    def local(part):
        for target, source in mounts.items():
            part = str(part).replace(target, str(source))
        return part

    entrypoint = [local(part) for part in service["entrypoint"]]
    if entrypoint[-1] == "litellm":
        entrypoint[-1] = str(LITELLM)
    elif not any('exec litellm "$@"' in part for part in entrypoint):
        sys.exit(f"unexpected entrypoint in the rendered compose file: {service['entrypoint']}")
    return [*entrypoint, *(local(part) for part in service["command"])]


class Target:
    """One path under test: a port, the model name to ask for, headers; one keep-alive connection."""

    def __init__(self, name, port, model, headers):
        self.name, self.port, self.model, self.headers = name, port, model, headers
        self.body = json.dumps({"model": model, "messages": MESSAGES, "max_tokens": 4, "temperature": 0}).encode()
        self.conn = None
        self.times = []  # seconds, one per measured request
        self.errors = 0

    def request(self):
        """Seconds one chat completion took, or None (and a counted error) when it failed."""
        for attempt in range(2):  # a connection the server closed meanwhile is reopened once
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                start = time.perf_counter()
                self.conn.request("POST", "/v1/chat/completions", self.body, self.headers)
                response = self.conn.getresponse()
                payload = response.read()
                elapsed = time.perf_counter() - start
            except (OSError, http.client.HTTPException) as e:
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    return self.failed(f"{type(e).__name__}: {e}")
                continue
            if response.status != 200:
                return self.failed(f"HTTP {response.status}: {payload[:200]!r}")
            try:
                json.loads(payload)["choices"][0]["message"]["content"]
            except (ValueError, KeyError, IndexError, TypeError):
                return self.failed(f"not a chat completion: {payload[:200]!r}")
            return elapsed
        return None

    def failed(self, why):
        self.errors += 1
        if self.errors == 1:
            print(f"{self.name}: first error: {why}", file=sys.stderr)
        return None

    def close(self):
        if self.conn is not None:
            self.conn.close()


def p95(values):
    return statistics.quantiles(values, n=100, method="inclusive")[94] if len(values) > 1 else values[0]


def measure(targets, warmup, requests, deadline):
    """Warm every path up, then REQUESTS rounds of one request per path, the order rotating each round.

    Returns the rounds in which every path answered: [{name: seconds}], for paired differences.
    """
    for _ in range(warmup):
        if time.monotonic() > deadline:
            break
        for target in targets:
            target.request()
    for target in targets:
        target.errors = 0  # the warm-up's errors are not the measurement's
    rounds = []
    for index in range(requests):
        if time.monotonic() > deadline:
            print(f"time bound reached after {index} rounds", file=sys.stderr)
            break
        shift = index % len(targets)
        answered = {}
        for target in targets[shift:] + targets[:shift]:
            elapsed = target.request()
            if elapsed is not None:
                target.times.append(elapsed)
                answered[target.name] = elapsed
        if len(answered) == len(targets):
            rounds.append(answered)
        if sum(t.errors for t in targets) > max(10, requests // 10):
            sys.exit("too many errors: stopping (see the first error of each path above)")
    return rounds


def report(targets, rounds, variants):
    direct = targets[0]
    ms = {t.name: (statistics.median(t.times) * 1000, p95(t.times) * 1000) for t in targets if t.times}
    if len(ms) != len(targets):
        sys.exit("some path never answered: " + ", ".join(t.name for t in targets if not t.times))
    print(f"{'path':<12}{'n':>5}{'errors':>8}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}")
    for t in targets:
        print(
            f"{t.name:<12}{len(t.times):>5}{t.errors:>8}{ms[t.name][0]:>10.2f}{ms[t.name][1]:>10.2f}"
            f"{statistics.fmean(t.times) * 1000:>10.2f}"
        )
    print()
    print(f"added over {direct.name} (p50 and p95 differences; paired: the median of each round's difference)")
    print(f"{'path':<12}{'+p50 ms':>10}{'+p95 ms':>10}{'paired ms':>11}{'p50 x':>8}{'p95 x':>8}")
    for t in targets[1:]:
        paired = statistics.median((r[t.name] - r[direct.name]) * 1000 for r in rounds) if rounds else float("nan")
        print(
            f"{t.name:<12}{ms[t.name][0] - ms[direct.name][0]:>10.2f}{ms[t.name][1] - ms[direct.name][1]:>10.2f}"
            f"{paired:>11.2f}{ms[t.name][0] / ms[direct.name][0]:>8.2f}{ms[t.name][1] / ms[direct.name][1]:>8.2f}"
        )
    print()
    for name in ("role", *variants):
        print(
            f"{name} / defaults: p50 {ms[name][0] / ms['defaults'][0]:.3f}x, p95 {ms[name][1] / ms['defaults'][1]:.3f}x"
        )
    added = ms["role"][0] - ms[direct.name][0]
    verdict = "met" if added <= GOAL_ADDED_P50_MS else "not met"
    print(f"goal: the collection's config adds <= {GOAL_ADDED_P50_MS:g} ms at p50: {verdict} ({added:.2f} ms)")
    on, off = ms["metrics"][0], ms["role"][0]
    paired = statistics.median((r["metrics"] - r["role"]) * 1000 for r in rounds) if rounds else float("nan")
    print(
        f"metrics callback on / off: p50 {on:.2f} ms / {off:.2f} ms, {on - off:+.2f} ms (paired {paired:+.2f} ms); "
        f"p95 {ms['metrics'][1]:.2f} ms / {ms['role'][1]:.2f} ms"
    )
    verdict = "met" if on - off <= GOAL_METRICS_P50_MS else "not met"
    print(f"goal: the metrics add <= {GOAL_METRICS_P50_MS:g} ms at p50: {verdict} ({on - off:.2f} ms)")


def parse_variant(text):
    name, _, spec = text.partition("=")
    if not name.isidentifier() or name in ("direct", "defaults", "role", "metrics"):
        raise argparse.ArgumentTypeError(f"variant name {name!r}: give NAME=JSON with NAME a new identifier")
    try:
        variant = json.loads(spec)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"variant {name}: not JSON: {e}") from e
    if not isinstance(variant, dict) or set(variant) - {"config", "model_info", "env", "args"}:
        raise argparse.ArgumentTypeError(f"variant {name}: a JSON object with config, model_info, env and/or args")
    return name, variant


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="measured requests per path (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured requests per path first (default 20)")
    parser.add_argument("--seconds", type=float, default=300, help="time bound of the whole run (default 300)")
    parser.add_argument(
        "--variant",
        type=parse_variant,
        action="append",
        default=[],
        metavar="NAME=JSON",
        help='one more path, the role\'s proxy with: {"config": {}, "model_info": {}, "env": {}, "args": []}',
    )
    args = parser.parse_args()
    deadline = time.monotonic() + args.seconds
    variants = dict(args.variant)
    # Every proxy sees the same environment besides what its path sets: nothing LiteLLM reads leaks in.
    for name in [n for n in os.environ if n.startswith("LITELLM_")]:
        del os.environ[name]

    key = "sk-bench-" + secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="overhead-bench-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        backend_port, defaults_port, role_port = free_port(), free_port(), free_port()
        metrics_port, metrics_server_port = free_port(), free_port()
        service, metrics_service = render_role(workdir, backend_port, role_port, key, variants, metrics_server_port)
        stack.enter_context(
            loopback.running(
                "fast-openai",
                [sys.executable, str(FAST_SERVER), "--port", str(backend_port), "--model", MODEL_ID],
                backend_port,
                "/v1/models",
                workdir,
            )
        )
        # LiteLLM's defaults: only the route and the master key (as the role, from the environment).
        defaults_config = workdir / "defaults.yaml"
        defaults_config.write_text(
            f"model_list:\n  - model_name: {ALIAS}\n    litellm_params:\n      model: hosted_vllm/{MODEL_ID}\n"
            f"      api_base: http://127.0.0.1:{backend_port}/v1\n"
            "general_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n"
        )
        role_command = role_argv(service, workdir)
        if role_command[role_command.index("--host") + 1] != "127.0.0.1":  # never listen beyond loopback
            sys.exit(f"the rendered command does not bind 127.0.0.1: {service['command']}")
        port_at = role_command.index("--port") + 1
        defaults_command = [str(LITELLM), *role_command[role_command.index(str(LITELLM)) + 1 :]]
        defaults_command[defaults_command.index(str(workdir / "config.yaml"))] = str(defaults_config)
        defaults_command[defaults_command.index("--port") + 1] = str(defaults_port)
        # The cost map from the package, not from GitHub (as the role's env and the image set it): loopback only.
        defaults_env = {"LITELLM_MASTER_KEY": key, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        print(f"role's command: {' '.join(role_command).replace(str(workdir), '$WORKDIR')}")
        print(f"defaults' command: {' '.join(defaults_command).replace(str(workdir), '$WORKDIR')}")

        gateway_headers = {"Content-Type": "application/json", "Authorization": "Bearer " + key}
        targets = [Target("direct", backend_port, MODEL_ID, {"Content-Type": "application/json"})]
        for name, argv, port, env in (
            ("defaults", defaults_command, defaults_port, defaults_env),
            ("role", role_command, role_port, {}),
        ):
            stack.enter_context(loopback.running(name, argv, port, "/health/readiness", workdir, env))
            targets.append(Target(name, port, ALIAS, gateway_headers))
        # The metrics on: the launcher starts LiteLLM's metrics server, then the proxy (PATH finds the venv's).
        argv = role_argv(metrics_service, workdir, workdir / "config-metrics.yaml")
        argv[argv.index("--port") + 1] = str(metrics_port)
        env = {
            "PATH": f"{LITELLM.parent}:{os.environ['PATH']}",
            "PROMETHEUS_MULTIPROC_DIR": str(workdir / "prometheus-multiproc"),
        }
        stack.enter_context(loopback.running("metrics", argv, metrics_port, "/health/readiness", workdir, env))
        targets.append(Target("metrics", metrics_port, ALIAS, gateway_headers))
        for name, variant in variants.items():
            port = free_port()
            argv = role_argv(service, workdir, workdir / f"config-{name}.yaml")
            argv[port_at] = str(port)
            argv += [str(a) for a in variant.get("args", [])]
            env = {k: str(v) for k, v in variant.get("env", {}).items()}
            print(f"variant {name}: {json.dumps(variant)}")
            stack.enter_context(loopback.running(name, argv, port, "/health/readiness", workdir, env))
            targets.append(Target(name, port, ALIAS, gateway_headers))
        stack.callback(lambda: [t.close() for t in targets])

        rounds = measure(targets, args.warmup, args.requests, deadline)
        # The metrics path did count its requests: LiteLLM's metrics server shows them.
        status, body = loopback.http_get(metrics_server_port, "/metrics/")
        if status != 200 or b"litellm_proxy_total_requests_metric_total" not in body:
            sys.exit(f"LiteLLM's metrics server did not show the requests: HTTP {status}")
        print()
        print(
            f"short non-streaming chat completion (max_tokens=4) to {ALIAS}; {len(targets)} paths interleaved, "
            f"order rotating; {args.warmup} warm-up requests per path; keep-alive connections"
        )
        report(targets, rounds, variants)


if __name__ == "__main__":
    main()
