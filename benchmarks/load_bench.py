#!/usr/bin/env python3
"""Throughput and latency through the gateway under load: a model on one host against one on two hosts.

For each concurrency level (default 1, 8 and 32), a bounded number of short chat completions
(--requests per level and model, max_tokens --max-tokens) go through the gateway from that many threads
at once, for two model names side by side in one run:

  one host    --one-host-model (default `akira/smollm2-135m`: one deployment, akira's vLLM);
  two hosts   --two-hosts-model (default `smollm2-135m`: two deployments of one model id, one on akira
              and one on wintermute, which LiteLLM balances). The gateway must serve that name: one
              alias given to the same model id on both hosts' vllm_backends; the probe stops first,
              listing the names the gateway serves, when it does not.

The two models alternate level by level (which one runs first swaps at every level), so that a slow
stretch of this noisy machine does not always hit the same one. Printed per model and level: requests
per second, p50 and p95 latency, errors, how many distinct backends answered (LiteLLM's
x-litellm-model-api-base), and per level the ratio of requests per second two hosts / one host.

Like gateway_bench.py, the probe runs INSIDE a lab gateway host (`make lab` first): `podman exec -i akira
python3 - ...`, the gateway on 127.0.0.1:4000 and its master key read there from /flux/apps/litellm/.env
(never printed). `--exec ""` runs the probe here with python3 instead (with --gateway-url and --env-file
naming a local gateway and its env file), e.g. against a loopback LiteLLM proxy.
Bounded: --requests per level and model, --seconds per level and model, and every request's timeout.

    python3 benchmarks/load_bench.py [--host akira] [--concurrency 1,8,32] [--requests 64]
"""

import argparse
import json
import re
import shlex
import subprocess
import sys

PROBE = r"""
import concurrent.futures, http.client, json, shlex, sys, threading, time, urllib.parse

config = json.loads(sys.argv[1])
url = urllib.parse.urlsplit(config["gateway_url"])
if url.scheme != "http" or not url.hostname:
    raise SystemExit("--gateway-url must be http://HOST:PORT")
key = None
with open(config["env_file"]) as env_file:  # NAME=value lines, values shell-quoted (the role's env file)
    for line in env_file:
        if line.startswith("LITELLM_MASTER_KEY="):
            key = (shlex.split(line.split("=", 1)[1]) or [""])[0]
if not key:
    raise SystemExit(f"no LITELLM_MASTER_KEY in {config['env_file']}")
headers = {"Content-Type": "application/json", "Authorization": "Bearer " + key}
local = threading.local()  # one keep-alive connection per worker thread


def connection():
    if getattr(local, "conn", None) is None:
        local.conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=config["timeout"])
    return local.conn


def call(method, path, body=None):
    # (status, response headers, payload); a dropped connection is reopened for the next call
    conn = connection()
    try:
        conn.request(method, path, body, headers)
        response = conn.getresponse()
        return response.status, response, response.read()
    except (OSError, http.client.HTTPException):
        conn.close()
        local.conn = None
        raise


# The gateway must serve both names: say which it serves otherwise.
status, _, payload = call("GET", "/v1/models")
if status != 200:
    raise SystemExit(f"GET /v1/models answered {status}: {payload[:200]!r}")
served = sorted(m["id"] for m in json.loads(payload)["data"])
missing = [m for m in config["models"] if m not in served]
if missing:
    raise SystemExit(f"the gateway does not serve {', '.join(missing)}; it serves: {', '.join(served)}")


def completion(model):
    # (seconds, backend that answered, error or None) of one short chat completion
    body = json.dumps({
        "model": model,
        "messages": [{"role": "user", "content": "Count from one to ten."}],
        "max_tokens": config["max_tokens"],
        "temperature": 0,
    })
    start = time.perf_counter()
    try:
        status, response, payload = call("POST", "/v1/chat/completions", body)
    except (OSError, http.client.HTTPException) as e:
        return time.perf_counter() - start, None, f"{type(e).__name__}: {e}"
    elapsed = time.perf_counter() - start
    if status != 200:
        return elapsed, None, f"HTTP {status}: {payload[:200]!r}"
    try:
        json.loads(payload)["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        return elapsed, None, f"not a chat completion: {payload[:200]!r}"
    return elapsed, response.getheader("x-litellm-model-api-base"), None


def run(model, concurrency):
    # --requests completions from CONCURRENCY threads; none starts after the run's time bound
    deadline = time.monotonic() + config["seconds"]
    tickets = iter(range(config["requests"]))
    lock = threading.Lock()
    results = []

    def worker():
        while time.monotonic() < deadline:
            with lock:
                if next(tickets, None) is None:
                    break
            result = completion(model)
            with lock:
                results.append(result)
        if getattr(local, "conn", None) is not None:
            local.conn.close()
            local.conn = None

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    wall = time.perf_counter() - start
    ok = [r for r in results if r[2] is None]
    backends = {}
    for _, backend, _ in ok:
        backends[backend] = backends.get(backend, 0) + 1
    return {
        "model": model,
        "concurrency": concurrency,
        "wall": wall,
        "times": [r[0] for r in ok],
        "errors": len(results) - len(ok),
        "first_error": next((r[2] for r in results if r[2] is not None), None),
        "backends": sorted(backends.values(), reverse=True),
    }


for model in config["models"]:  # warm up: each model's route and connections, unmeasured
    for _ in range(config["warmup"]):
        completion(model)
runs = []
for index, concurrency in enumerate(config["concurrency"]):
    models = config["models"] if index % 2 == 0 else config["models"][::-1]  # alternate who goes first
    for model in models:
        runs.append(run(model, concurrency))
        print(json.dumps(runs[-1]), flush=True)  # one JSON line per run
"""


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def levels(text):
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{text!r}: give concurrency levels as 1,8,32") from e
    if not values or any(not 1 <= v <= 256 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: every level must be from 1 to 256")
    return values


def without_secrets(text):
    """Never show a key, whatever a traceback or an error body quotes."""
    return re.sub(r"sk-[A-Za-z0-9_-]+", "sk-***", text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="akira", help="podman container of the gateway host (default akira)")
    parser.add_argument(
        "--exec",
        dest="exec_prefix",
        default=None,
        help='command that runs `python3 - ARGS` where the gateway is (default: podman exec -i HOST); "" runs it here',
    )
    parser.add_argument("--gateway-url", default="http://127.0.0.1:4000", help="the gateway, as the probe sees it")
    parser.add_argument(
        "--env-file", default="/flux/apps/litellm/.env", help="the gateway's env file (LITELLM_MASTER_KEY=...)"
    )
    parser.add_argument("--one-host-model", default="akira/smollm2-135m", help="a model served by one host")
    parser.add_argument("--two-hosts-model", default="smollm2-135m", help="a model served by two hosts")
    parser.add_argument("--concurrency", type=levels, default=[1, 8, 32], help="levels (default 1,8,32)")
    parser.add_argument("--requests", type=int, default=64, help="requests per level and model (default 64)")
    parser.add_argument("--max-tokens", type=int, default=8, help="max_tokens of each completion (default 8)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured requests per model first (default 2)")
    parser.add_argument("--seconds", type=float, default=120, help="time bound per level and model (default 120)")
    parser.add_argument("--timeout", type=float, default=60, help="timeout of one request (default 60)")
    args = parser.parse_args()

    models = [args.one_host_model, args.two_hosts_model]
    if args.exec_prefix is None:
        prefix = ["podman", "exec", "-i", args.host]
        where = args.host
    else:
        prefix = shlex.split(args.exec_prefix)
        where = " ".join(prefix) or "this machine"
    config = {
        "gateway_url": args.gateway_url,
        "env_file": args.env_file,
        "models": models,
        "concurrency": args.concurrency,
        "requests": args.requests,
        "max_tokens": args.max_tokens,
        "warmup": args.warmup,
        "seconds": args.seconds,
        "timeout": args.timeout,
    }
    # The probe's own bound: every run's, plus the warm-up and one request timeout per thread of the last run.
    bound = 2 * len(args.concurrency) * (args.seconds + args.timeout) + 2 * args.warmup * args.timeout + 60
    print(
        f"{args.requests} chat completions (max_tokens={args.max_tokens}) per level and model through "
        f"{args.gateway_url} on {where}; models alternate level by level"
    )
    proc = subprocess.Popen(
        [*prefix, "python3", "-", json.dumps(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = proc.communicate(PROBE, timeout=bound)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        sys.exit(f"probe on {where} did not finish within {bound:.0f} s")
    if proc.returncode != 0:
        sys.exit(f"probe failed on {where}: {without_secrets(stderr.strip()[-2000:])}")

    runs = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    print(f"{'model':<24}{'conc':>5}{'n':>5}{'rps':>9}{'p50 ms':>10}{'p95 ms':>10}{'errors':>8}  backends")
    rps = {}
    for run in sorted(runs, key=lambda r: (r["concurrency"], models.index(r["model"]))):
        times = run["times"]
        rate = len(times) / run["wall"] if run["wall"] > 0 else 0.0
        rps[run["model"], run["concurrency"]] = rate
        p50 = f"{percentile(times, 0.5) * 1000:.1f}" if times else "-"
        p95 = f"{percentile(times, 0.95) * 1000:.1f}" if times else "-"
        split = "/".join(str(n) for n in run["backends"]) or "-"
        print(
            f"{run['model']:<24}{run['concurrency']:>5}{len(times):>5}{rate:>9.2f}{p50:>10}{p95:>10}"
            f"{run['errors']:>8}  {len(run['backends'])} ({split})"
        )
        if run["first_error"]:
            print(f"    first error: {without_secrets(run['first_error'])}")
    print()
    print("requests per second, two hosts / one host:")
    for concurrency in args.concurrency:
        one, two = rps.get((models[0], concurrency)), rps.get((models[1], concurrency))
        ratio = f"{two / one:.2f}x" if one and two is not None else "-"
        print(f"  concurrency {concurrency:>3}: {ratio}")


if __name__ == "__main__":
    main()
