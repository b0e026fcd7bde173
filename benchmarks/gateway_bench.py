#!/usr/bin/env python3
"""Latency the LiteLLM gateway adds to a short chat completion, measured side by side in one run.

Runs inside the lab's gateway host (default: the `akira` podman test host of `make lab`), so both
paths start from the same place: the gateway on 127.0.0.1:4000 and vLLM directly on 127.0.0.1:8000.
Requests alternate between the two paths (A, B, A, B, ...) so that machine noise hits both alike.
Bounded: --requests per path (default 30) and --seconds in all (default 300).

    python3 benchmarks/gateway_bench.py [--host akira] [--requests 30]
"""

import argparse
import json
import re
import subprocess
import sys

PROBE = r"""
import http.client, json, statistics, sys, time

requests, seconds, gateway_port, vllm_port, vllm_model, base_dir = sys.argv[1:7]
requests, seconds = int(requests), float(seconds)
key = next(line.split("=", 1)[1].strip() for line in open(base_dir + "/.env") if line.startswith("LITELLM_MASTER_KEY="))
messages = [{"role": "user", "content": "Reply with one word: hello"}]


def call(port, model, headers):
    body = json.dumps({"model": model, "messages": messages, "max_tokens": 4, "temperature": 0})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    start = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json", **headers})
    response = conn.getresponse()
    payload = response.read()
    elapsed = time.perf_counter() - start
    conn.close()
    if response.status != 200:
        raise SystemExit(f"port {port}: HTTP {response.status}: {payload[:200]!r}")
    return elapsed


paths = {
    "gateway": (int(gateway_port), "default", {"Authorization": "Bearer " + key}),
    "vllm": (int(vllm_port), vllm_model, {}),
}
for port, model, headers in paths.values():  # warm up both paths
    call(port, model, headers)
times = {name: [] for name in paths}
deadline = time.monotonic() + seconds
for _ in range(requests):
    if time.monotonic() > deadline:
        break
    for name, (port, model, headers) in paths.items():
        times[name].append(call(port, model, headers))
print(json.dumps(times))
"""


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="akira", help="podman container of the gateway host")
    parser.add_argument("--requests", type=int, default=30, help="requests per path")
    parser.add_argument("--seconds", type=float, default=300, help="time bound for the whole run")
    parser.add_argument("--gateway-port", type=int, default=4000)
    parser.add_argument("--vllm-port", type=int, default=8000)
    parser.add_argument("--vllm-model", default="smollm2-135m", help="model id vLLM serves")
    parser.add_argument("--base-dir", default="/flux/apps/litellm", help="where the gateway's .env is")
    args = parser.parse_args()

    probe_args = [
        str(a) for a in (args.requests, args.seconds, args.gateway_port, args.vllm_port, args.vllm_model, args.base_dir)
    ]
    result = subprocess.run(
        ["podman", "exec", "-i", args.host, "python3", "-", *probe_args],
        input=PROBE,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        # never show the master key, whatever the probe's traceback quotes
        stderr = re.sub(r"sk-[A-Za-z0-9_-]+", "sk-***", result.stderr.strip()[-2000:])
        sys.exit(f"probe failed on {args.host}: {stderr}")

    times = json.loads(result.stdout)
    n = len(times["gateway"])
    print(f"short chat completion (max_tokens=4), {n} requests per path, alternating, on {args.host}")
    print(f"{'path':<10}{'p50 ms':>10}{'p95 ms':>10}")
    stats = {}
    for name in ("vllm", "gateway"):
        p50, p95 = percentile(times[name], 0.5) * 1000, percentile(times[name], 0.95) * 1000
        stats[name] = (p50, p95)
        print(f"{name:<10}{p50:>10.1f}{p95:>10.1f}")
    added50 = stats["gateway"][0] - stats["vllm"][0]
    added95 = stats["gateway"][1] - stats["vllm"][1]
    print(f"gateway adds {added50:.1f} ms at p50 ({added95:.1f} ms at p95)")
    ratio50 = stats["gateway"][0] / stats["vllm"][0]
    ratio95 = stats["gateway"][1] / stats["vllm"][1]
    print(f"ratio gateway/vllm: p50 {ratio50:.2f}x, p95 {ratio95:.2f}x")


if __name__ == "__main__":
    main()
