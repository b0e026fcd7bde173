#!/usr/bin/env python3
# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Time tailnet.llm.azure_keyvault against the way azure.azcollection's azure_keyvault_secret fetches secrets.

Both run the real azure-identity + azure-keyvault-secrets clients against the local Key Vault server
(tests/servers/kvserver.py, in its own process), which answers every request after
--delay seconds (50 ms: a round trip to Azure). Authentication is a service principal with a client
secret against the server's Entra ID endpoint, for both.

"The azcollection way" is what azure.azcollection 3.12's azure_keyvault_secret lookup does with
use_msi=false (its managed-identity probe of 169.254.169.254 is never made here): per lookup call a new
ClientSecretCredential and a new SecretClient, then one get_secret after another. Its plugin itself is
tried first, with every connection and name lookup off loopback refused; it cannot run in the pinned venv
(its module_utils import azure-mgmt-* packages that requirements/dev.txt does not install), and even with
them it could only reach this server by faking name resolution: its SecretClient checks that the vault
lies under vault.azure.net and its credential asks login.microsoftonline.com. The script prints why.

Two situations are timed, each the median of --repeat samples, in one run:
  cold  every cache emptied before each call (our credential/client cache and the SDK's
        process-wide challenge cache): the first lookup of an Ansible task.
  warm  later calls in the same process: our lookup reuses its token and connections; the
        azcollection way builds a new credential (so a new token) every call, as it does.
Nothing here may leave the machine: any connection to a non-loopback address raises and is counted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SERVER = REPO / "tests" / "servers" / "kvserver.py"
CLIENT_SECRET = "bench-client-secret"  # a test principal of the local server
COUNTS = (1, 10, 50)

_blocked = []
_connect = socket.socket.connect
_getaddrinfo = socket.getaddrinfo


def _is_loopback(host):
    return isinstance(host, str) and (host.startswith("127.") or host in ("::1", "localhost"))


def _loopback_only(sock, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and "/" not in host and not _is_loopback(host):
        _blocked.append(host)
        raise ConnectionRefusedError(f"benchmark: refusing to connect to {host} (loopback only)")
    return _connect(sock, address)


def _loopback_names_only(host, *args, **kwargs):
    if host is not None and not _is_loopback(host if isinstance(host, str) else host.decode()):
        _blocked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, f"benchmark: not resolving {host} (loopback only)")
    return _getaddrinfo(host, *args, **kwargs)


def try_azcollection_plugin(url, tenant, client_id, expected):
    """Run azure.azcollection.azure_keyvault_secret itself (use_msi=false); return None or why it cannot run."""
    from ansible.plugins.loader import lookup_loader

    plugin = lookup_loader.get("azure.azcollection.azure_keyvault_secret")
    if plugin is None:
        return "azure.azcollection is not installed"
    try:
        values = plugin.run(
            ["bench-secret-00"],
            {},
            vault_url=url,
            use_msi=False,
            client_id=client_id,
            secret=CLIENT_SECRET,
            tenant=tenant,
        )
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        try:
            from ansible_collections.azure.azcollection.plugins.module_utils import azure_rm_common

            if not azure_rm_common.HAS_AZURE:
                missing = (azure_rm_common.HAS_AZURE_EXC or "").strip().splitlines()[-1]
                reason += f" (its module_utils failed to import: {missing})"
        except Exception as inner:
            reason += f" (its module_utils do not import: {inner})"
        return reason
    if values != [expected]:
        return f"it returned {values!r}"
    return None


def msi_probe_cost():
    """Time azure.azcollection's default managed-identity probe (use_msi=true) where the metadata address
    drops packets, as off Azure behind most routers: its own requests.get(..., timeout=(3.05, 27)), aimed
    at a loopback port whose accept queue is full, so the kernel drops the SYNs and the connect times out
    exactly as it would against a filtered 169.254.169.254 (which this script never contacts)."""
    import requests

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):  # fill the accept queue; these connects stall too
        filler = socket.socket()
        filler.settimeout(0.2)
        with contextlib.suppress(OSError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    start = time.perf_counter()
    with contextlib.suppress(requests.exceptions.ConnectTimeout):
        requests.get(
            f"http://127.0.0.1:{port}/metadata/identity/oauth2/token",
            params={"api-version": "2018-02-01", "resource": "https://vault.azure.net"},
            headers={"Metadata": "true"},
            timeout=(3.05, 27),
        )
    elapsed = time.perf_counter() - start
    for sock in (*fillers, listener):
        sock.close()
    return elapsed


def start_server(tmp, delay, names):
    (tmp / "secrets.json").write_text(json.dumps({n: f"value-of-{n}-" + "x" * 32 for n in names}))
    client_id = "00000000-0000-4000-8000-00000000b0b0"
    (tmp / "principals.json").write_text(json.dumps([{"client_id": client_id, "secret": CLIENT_SECRET}]))
    proc = subprocess.Popen(
        [
            sys.executable,
            str(SERVER),
            "--tls-dir",
            str(tmp),
            "--delay",
            str(delay),
            "--secrets",
            str(tmp / "secrets.json"),
            "--principals",
            str(tmp / "principals.json"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    info = json.loads(proc.stdout.readline())
    info["client_id"] = client_id
    return proc, info


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.05, help="server delay per request (s)")
    parser.add_argument("--repeat", type=int, default=3, help="samples per measurement (median)")
    args = parser.parse_args()

    os.environ["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    os.chdir(REPO)
    socket.socket.connect = _loopback_only
    socket.getaddrinfo = _loopback_names_only
    from ansible.plugins.loader import init_plugin_loader, lookup_loader

    init_plugin_loader()
    from ansible_collections.tailnet.llm.plugins.plugin_utils._azure_keyvault_client import clear_cache
    from azure.identity import ClientSecretCredential
    from azure.keyvault.secrets import SecretClient
    from azure.keyvault.secrets._shared import http_challenge_cache

    names = [f"bench-secret-{i:02d}" for i in range(max(COUNTS))]
    with tempfile.TemporaryDirectory(prefix="kvbench-") as tmp:
        proc, server = start_server(Path(tmp), args.delay, names)
        try:
            os.environ["REQUESTS_CA_BUNDLE"] = server["ca_file"]
            url, tenant, client_id = server["url"], server["tenant"], server["client_id"]
            lookup = lookup_loader.get("tailnet.llm.azure_keyvault")
            ours_kwargs = dict(
                vault_url=url,
                auth="service_principal",
                tenant_id=tenant,
                client_id=client_id,
                client_secret=CLIENT_SECRET,
                authority_host=url,
                disable_instance_discovery=True,
                verify_challenge_resource=False,
            )

            def ours(terms):
                return lookup.run(terms, {}, **ours_kwargs)

            def azcollection_way(terms):
                # azure_keyvault_secret.lookup_secret_non_msi: a new credential and client per call,
                # then one get_secret after another.
                credential = ClientSecretCredential(
                    tenant_id=tenant,
                    client_id=client_id,
                    client_secret=CLIENT_SECRET,
                    authority=url,
                    disable_instance_discovery=True,
                )
                client = SecretClient(url, credential, verify_challenge_resource=False)
                return [client.get_secret(term).value for term in terms]

            blocked_before = len(_blocked)
            why_not = try_azcollection_plugin(url, tenant, client_id, f"value-of-{names[0]}-" + "x" * 32)
            azc_plugin_blocked = _blocked[blocked_before:]
            del _blocked[blocked_before:]

            def cold():
                clear_cache()
                http_challenge_cache.clear()

            expected = {n: f"value-of-{n}-" + "x" * 32 for n in names}
            results = {}
            for mode in ("cold", "warm"):
                samples = {(way, n): [] for way in ("ours", "azcollection way") for n in COUNTS}
                if mode == "warm":  # one call each first, so that "warm" means a later call
                    ours(names[:1])
                    azcollection_way(names[:1])
                for _ in range(args.repeat):
                    for n in COUNTS:
                        for way, fetch in (("ours", ours), ("azcollection way", azcollection_way)):
                            if mode == "cold":
                                cold()
                            start = time.perf_counter()
                            values = fetch(names[:n])
                            samples[way, n].append(time.perf_counter() - start)
                            assert list(values) == [expected[t] for t in names[:n]], f"{way}: wrong values"
                results[mode] = {key: statistics.median(v) for key, v in samples.items()}
        finally:
            proc.stdin.close()
            proc.wait(10)

    print(f"Local Key Vault server, {args.delay * 1000:.0f} ms per request, median of {args.repeat} samples")
    if why_not:
        print(f"azure.azcollection.azure_keyvault_secret itself (use_msi=false) could not run here: {why_not}")
        print("  -> compared against the way it fetches (the sequential loop below), with the same SDK it would use")
    if azc_plugin_blocked:
        print(f"  (it tried to reach, and was refused: {sorted(set(map(str, azc_plugin_blocked)))})")
    print(f"{'':6} {'secrets':>7} {'ours (s)':>10} {'azcollection way (s)':>21} {'speed-up':>9}")
    for mode in ("cold", "warm"):
        for n in COUNTS:
            o, a = results[mode]["ours", n], results[mode]["azcollection way", n]
            print(f"{mode:6} {n:7d} {o:10.3f} {a:21.3f} {a / o:8.1f}x")
    for mode in ("cold", "warm"):
        r = results[mode]
        scale = r["ours", 50] / r["ours", 1]
        speedup = r["azcollection way", 10] / r["ours", 10]
        print(
            f"{mode}: ours 50/1 = {scale:.2f} (goal < 3: {'met' if scale < 3 else 'NOT met'}); "
            f"azcollection way / ours for 10 = {speedup:.1f}x (goal >= 5: {'met' if speedup >= 5 else 'NOT met'})"
        )
    # What bounds the ratios: round trips every way pays, and the SDK's own time per request.
    print(
        "cold: both ways pay 3 round trips before the first secret (401 challenge, OpenID discovery, token), so for "
        f"10 secrets the best possible ratio is (3 + 10) / (3 + 1) = {13 / 4:.2f}x when the azcollection way "
        "skips its managed-identity probe (use_msi=false)"
    )
    extra = results["warm"]["ours", 50] - results["warm"]["ours", 1]
    print(
        f"warm: 49 more secrets cost ours {extra:.3f} s ({extra / 49 * 1000:.1f} ms each beyond the shared round "
        f"trip): the SDK's time per request on this machine, at most {32} requests at a time"
    )
    probe = msi_probe_cost()
    print(
        f"azcollection's default (use_msi=true) first probes managed identity: where 169.254.169.254 drops "
        f"packets that costs {probe:.2f} s (its connect timeout, measured on a loopback stand-in) per lookup call"
    )
    for n in COUNTS:
        o, a = results["cold"]["ours", n], results["cold"]["azcollection way", n] + probe
        print(f"cold {n:3d} secrets: azcollection default (probe + fetch) {a:.3f} s, ours {o:.3f} s, {a / o:.1f}x")
    speedup = (results["cold"]["azcollection way", 10] + probe) / results["cold"]["ours", 10]
    print(
        f"cold, default: azcollection / ours for 10 = {speedup:.1f}x "
        f"(goal >= 5: {'met' if speedup >= 5 else 'NOT met'})"
    )
    print(f"connections refused to non-loopback addresses: {len(_blocked)} {sorted(set(_blocked))}")
    return 0 if not _blocked else 1


if __name__ == "__main__":
    sys.exit(main())
