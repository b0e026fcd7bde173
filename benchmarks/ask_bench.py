#!/usr/bin/env python3
"""`ask` versus curl and the `llm` CLI, side by side in one run, against the same loopback gateway.

The gateway is the one the `ask` tests use (tests/servers/loopback.py): the real LiteLLM proxy, with
a master key, in front of llama.cpp serving SmolLM2-135M-Instruct. `ask` runs as installed, through
its shebang (/usr/bin/python3 -IS; http.client and json, nothing cached between runs); `llm` comes
from build/venvs/bench (`make bench-ask` builds both venvs), configured for the same endpoint, key
and model.

Measured, with the three clients interleaved round by round so that machine noise hits them alike:
  list models:          `ask --list-models`  vs  `curl -s URL/v1/models` (and `llm models`, which
                        lists the configured models without asking the gateway: its start-up alone)
  time to first token:  `ask --max-tokens 8 hi`  vs  `curl -N` with the same body  vs  `llm -o max_tokens 8 hi`
                        (spawn to the first byte of answer text on stdout)
Goals (issue 7): list within 6x curl and at least 20x faster than `llm`; first token within 1.1x curl
(`llm`'s first token is shown, with no goal).
Bounded: --rounds (default 30 for listing, half that for first tokens) and --seconds overall.
The report ends with the bounds that any client on http.client and json has: a Python that only
imports them (`python3 -IS http.client` below) plus the gateway's own time (curl's time less its start-up,
`curl --version`), which is what the goals are up against.

    PYTHONPATH=tests:tests/servers .venv/bin/python benchmarks/ask_bench.py [--rounds 30] [--seconds 600]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import loopback  # tests/servers, on PYTHONPATH (make bench-ask sets it)
from helpers import REPO

ASK = REPO / "roles" / "ask_cli" / "files" / "ask"
LLM = REPO / "build" / "venvs" / "bench" / "bin" / "llm"
MODEL = "default"
MAX_TOKENS = 8
CURL_GOALS = {"list": 6.0, "first token": 1.1}  # ask / curl, at most
LLM_GOALS = {"list": 20.0}  # llm / ask, at least


def wall_time(argv, env, timeout=60):
    """Seconds from spawn to exit; the command must succeed."""
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({result.returncode}): {result.stderr.decode()[-500:]}")
    return elapsed


def sse_has_text(data):
    """Whether curl's raw server-sent events so far hold a non-empty content delta."""
    for line in data.split(b"\n"):
        if line.startswith(b"data:") and line[5:].strip() not in (b"", b"[DONE]"):
            try:
                event = json.loads(line[5:])
            except ValueError:
                continue  # the line is not complete yet
            if any((c.get("delta") or {}).get("content") for c in event.get("choices") or ()):
                return True
    return False


def plain_has_text(data):
    """ask and llm write nothing but the answer's text: their first byte is the first token, as the first
    non-empty content delta is for curl."""
    return bool(data)


def first_token_time(argv, env, has_text, timeout=60):
    """Seconds from spawn to the first answer text on stdout; then the command runs to its end."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen, first = b"", None
    try:
        while first is None:
            data = os.read(proc.stdout.fileno(), 65536)
            if not data:
                break
            seen += data
            if has_text(seen):
                first = time.perf_counter() - start
        proc.stdout.read()
        stderr = proc.stderr.read()
        code = proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    if code != 0 or first is None:
        raise SystemExit(f"{argv[0]} gave no answer ({code}): {stderr.decode()[-500:]}")
    return first


def llm_config(workdir, gateway):
    """An LLM_USER_PATH with the gateway as an OpenAI-compatible model and its key."""
    home = Path(workdir) / "llm"
    home.mkdir()
    (home / "extra-openai-models.yaml").write_text(
        f"- model_id: lab-{MODEL}\n  model_name: {MODEL}\n  api_base: {gateway.url}/v1\n  api_key_name: lab\n"
    )
    keys = home / "keys.json"
    keys.write_text(json.dumps({"lab": gateway.api_key}))
    keys.chmod(0o600)
    return str(home)


def curl_headers(workdir, gateway):
    """The Authorization header in a file (`curl -H @file`): the key stays off command lines."""
    path = Path(workdir) / "curl-headers"
    path.write_text(f"Authorization: Bearer {gateway.api_key}\nContent-Type: application/json\n")
    path.chmod(0o600)
    return str(path)


def run(rounds, seconds, workdir):
    if not (LLM.parent.parent / ".installed").exists():
        raise SystemExit(f"{LLM} is missing: run `make bench-ask`")
    curl = shutil.which("curl") or sys.exit("curl is missing")
    deadline = time.monotonic() + seconds
    with loopback.gateway(workdir) as gateway:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(workdir),
            "LANG": "C.UTF-8",
            "ASK_BASE_URL": gateway.url,
            "ASK_API_KEY": gateway.api_key,
            "ASK_MODEL": MODEL,
            "LLM_USER_PATH": llm_config(workdir, gateway),
        }
        headers = curl_headers(workdir, gateway)
        body = json.dumps(
            {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True, "max_tokens": MAX_TOKENS}
        )
        listing = {
            "ask": [str(ASK), "--list-models"],
            "curl": [curl, "-sSf", "-H", f"@{headers}", f"{gateway.url}/v1/models"],
            "llm": [str(LLM), "models"],
        }
        first = {
            "ask": ([str(ASK), "--max-tokens", str(MAX_TOKENS), "hi"], plain_has_text),
            "curl": (
                [curl, "-sSfN", "-H", f"@{headers}", "-d", body, f"{gateway.url}/v1/chat/completions"],
                sse_has_text,
            ),
            "llm": ([str(LLM), "-m", f"lab-{MODEL}", "-n", "-o", "max_tokens", str(MAX_TOKENS), "hi"], plain_has_text),
        }
        # The clients must agree on what the gateway serves before anything is timed.
        listed = subprocess.run(listing["ask"], env=env, capture_output=True, text=True, check=True).stdout.split()
        served = [m["id"] for m in json.loads(subprocess.check_output(listing["curl"]))["data"]]
        if listed != served or MODEL not in listed:
            raise SystemExit(f"ask lists {listed}, curl {served}")
        for name in listing:  # warm-up: page cache, the gateway's and llama.cpp's first requests
            wall_time(listing[name], env)
            argv, has_text = first[name]
            first_token_time(argv, env, has_text)

        times = {("list", n): [] for n in listing} | {("first token", n): [] for n in first}
        baseline = {  # start-up alone, for reading the numbers below
            "python3 -c pass": ["/usr/bin/python3", "-c", "pass"],
            "python3 -IS -c pass": ["/usr/bin/python3", "-IS", "-c", "pass"],
            "python3 -IS http.client": ["/usr/bin/python3", "-IS", "-c", "import http.client, json"],
            "ask --version": [str(ASK), "--version"],
            "curl --version": [curl, "--version"],
        }
        baseline_times = {name: [] for name in baseline}
        for i in range(rounds):
            if time.monotonic() > deadline:
                print(f"stopped after {i} rounds: --seconds {seconds} reached", file=sys.stderr)
                break
            for name, argv in baseline.items():
                baseline_times[name].append(wall_time(argv, env))
            for name, argv in listing.items():
                if name != "llm" or i % 3 == 0:  # llm is slow: a third as many runs
                    times["list", name].append(wall_time(argv, env))
            if i % 2 == 0:
                for name, (argv, has_text) in first.items():
                    if name != "llm" or i % 6 == 0:
                        times["first token", name].append(first_token_time(argv, env, has_text))
    return times, baseline_times


def report(times, baseline):
    ms = {key: statistics.median(values) * 1000 for key, values in times.items()}
    print(f"{'':26}{'median':>10}{'runs':>6}")
    for name, values in baseline.items():
        print(f"{name:26}{statistics.median(values) * 1000:8.1f} ms{len(values):6}")
    for (measure, client), values in times.items():
        print(f"{measure + ': ' + client:26}{ms[measure, client]:8.1f} ms{len(values):6}")
    print()
    ok = True
    for measure, goal in CURL_GOALS.items():
        ratio = ms[measure, "ask"] / ms[measure, "curl"]
        met = ratio <= goal
        ok &= met
        print(f"{measure}: ask / curl = {ratio:.2f} (goal <= {goal:g}): {'met' if met else 'NOT met'}")
        factor = ms[measure, "llm"] / ms[measure, "ask"]
        if measure in LLM_GOALS:
            met = factor >= LLM_GOALS[measure]
            ok &= met
            print(
                f"{measure}: llm / ask = {factor:.1f} (goal >= {LLM_GOALS[measure]:g}): {'met' if met else 'NOT met'}"
            )
        else:
            print(f"{measure}: llm / ask = {factor:.1f} (no goal)")
    print("all goals met" if ok else "some goals NOT met")
    print()
    # The best a client on http.client and json could do: start Python, import them (nothing else), and
    # wait for the gateway as long as curl does.
    imports = statistics.median(baseline["python3 -IS http.client"]) * 1000
    curl_start = statistics.median(baseline["curl --version"]) * 1000
    floor = {measure: imports + ms[measure, "curl"] - curl_start for measure in CURL_GOALS}
    print("bounds for any client on http.client and json (python3 -IS http.client + the gateway's time for curl):")
    print(f"list: llm / ask <= {ms['list', 'llm'] / floor['list']:.1f}")
    print(f"first token: ask / curl >= {floor['first token'] / ms['first token', 'curl']:.2f}")
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="rounds of listing (first tokens: half as many)")
    parser.add_argument("--seconds", type=float, default=600, help="stop starting rounds after this long")
    args = parser.parse_args()
    if not 1 <= args.rounds <= 1000:
        parser.error("--rounds must be 1 to 1000")
    with tempfile.TemporaryDirectory(prefix="ask-bench-") as workdir:
        times, baseline = run(args.rounds, args.seconds, Path(workdir))
    print(f"ask: {ASK} (#!/usr/bin/python3 -IS, http.client); server: LiteLLM proxy -> llama.cpp, SmolLM2-135M")
    report(times, baseline)


if __name__ == "__main__":
    main()
