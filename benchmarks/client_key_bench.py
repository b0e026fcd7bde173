#!/usr/bin/env python3
"""What checking a client's own key costs, against the master key path, measured side by side in one run.

Two real LiteLLM proxies (build/venvs/litellm) with config.yaml rendered by the litellm role's own template, in
front of the instant benchmark backend (tests/servers/fast_openai.py):

  master   no clients: LiteLLM's own master-key check, the path before keys per client;
  client   with clients: every key is checked by the collection's auth hook (tailnet_auth.py, clients.json
           with 100 clients' key hashes), here a client's key with a models list and limits.

Requests alternate between the paths round by round (the order rotating), so that this noisy machine's
hiccups hit both alike. Goal (issue 10): the hook adds at most 1 ms at p50. Bounded: --requests per path,
--seconds in all.

    PYTHONPATH=tests:tests/servers .venv/bin/python benchmarks/client_key_bench.py [--requests 300]
"""

import argparse
import contextlib
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import helpers
import loopback
from ansible_collections.tailnet.llm.plugins.plugin_utils.clients import gateway_clients
from overhead_bench import FAST_SERVER, MODEL_ID, Target, measure

GOAL_ADDED_P50_MS = 1.0
ALIAS = "akira/smollm2-135m"


@contextlib.contextmanager
def proxy(workdir, backend_port, master, clients):
    """The role's config (and, with clients, its auth hook and clients.json) served by a real LiteLLM proxy."""
    workdir.mkdir()
    backends = [
        {"name": "fast", "host": "127.0.0.1", "port": backend_port, "models": [{"id": MODEL_ID, "alias": ALIAS}]}
    ]
    variables = {
        "litellm_backends": backends,
        "litellm_clients": clients,
        "litellm_env_secrets": {"LITELLM_MASTER_KEY": master},
    }
    helpers.gateway_files(variables, workdir)
    port = helpers.free_port()
    argv = [loopback.venv_bin("litellm", "litellm"), "--config", str(workdir / "config.yaml"), "--host", "127.0.0.1"]
    env = {"LITELLM_MASTER_KEY": master, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    with loopback.running(workdir.name, [*argv, "--port", str(port)], port, "/health/liveliness", workdir, env):
        yield port


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="measured requests per path")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up requests per path")
    parser.add_argument("--seconds", type=float, default=300, help="time bound for the whole run")
    args = parser.parse_args()
    deadline = time.monotonic() + args.seconds
    master = "sk-master-" + secrets.token_hex(16)
    keys = {f"client-{i}": "sk-" + secrets.token_hex(20) for i in range(100)}
    hostvars = {
        name: {"llm_client_key": key, "llm_client_models": [ALIAS, "default"], "llm_client_rpm": 100000}
        for name, key in keys.items()
    }
    clients = gateway_clients({"llm_clients": list(keys)}, hostvars)
    with tempfile.TemporaryDirectory(prefix="client-key-bench-") as tmp:
        workdir = Path(tmp)
        backend_port = helpers.free_port()
        backend = [sys.executable, str(FAST_SERVER), "--port", str(backend_port), "--model", MODEL_ID]
        with (
            loopback.running("fast", backend, backend_port, "/v1/models", workdir),
            proxy(workdir / "master", backend_port, master, []) as master_port,
            proxy(workdir / "client", backend_port, master, clients) as client_port,
        ):
            targets = [
                Target("master", master_port, ALIAS, {"Authorization": f"Bearer {master}"}),
                Target("client", client_port, ALIAS, {"Authorization": f"Bearer {keys['client-50']}"}),
            ]
            rounds = measure(targets, args.warmup, args.requests, deadline)
            for target in targets:
                target.close()
    p50 = {t.name: statistics.median(t.times) * 1000 for t in targets}
    paired = statistics.median((r["client"] - r["master"]) * 1000 for r in rounds)
    print(f"short chat completion to {ALIAS}; {len(rounds)} rounds, paths interleaved, order rotating")
    for t in targets:
        print(f"{t.name:<8} n={len(t.times):<4} errors={t.errors:<3} p50 {p50[t.name]:.2f} ms")
    added = p50["client"] - p50["master"]
    print(
        f"the hook adds {added:.2f} ms at p50 (paired median {paired:.2f} ms);"
        f" ratio {p50['client'] / p50['master']:.3f}x"
    )
    print(f"goal: at most {GOAL_ADDED_P50_MS} ms at p50: {'met' if added <= GOAL_ADDED_P50_MS else 'not met'}")


if __name__ == "__main__":
    main()
