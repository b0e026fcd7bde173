"""Helpers shared by the testinfra suites.

The same tests validate the molecule lab (`molecule verify`) and the real hosts (`make validate-litellm`),
over SSH as an operator with sudo; everything they expect is read from the inventory, never hard-coded.
Nothing here changes a host: the fault tests that do live in faults/ and run only in the lab.
"""

import ipaddress
import json
import shlex

DEFAULT_BASE_DIR = "/flux/apps/litellm"
DEFAULT_VLLM_BASE_DIR = "/flux/apps/vllm"
DEFAULT_PORT = 4000
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
TAILNET_DEFAULT = ["100.64.0.0/10", "fd7a:115c:a1e0::/48"]


def inventory_vars(host):
    return host.ansible.get_variables()


def gateway_settings(host):
    """Base dirs, port and the exact list of names the gateway must serve, from the inventory."""
    hostvars = inventory_vars(host)
    backends = hostvars.get("litellm_backends", hostvars.get("vllm_backends", []))
    aliases = [m["alias"] for b in backends for m in b["models"]]
    aliases += [m["alias"] for m in hostvars.get("litellm_extra_models", [])]
    if "default" not in aliases:
        aliases.append("default")
    return {
        "base_dir": hostvars.get("litellm_base_dir", DEFAULT_BASE_DIR),
        "vllm_base_dir": hostvars.get("vllm_base_dir", DEFAULT_VLLM_BASE_DIR),
        "port": int(hostvars.get("litellm_port", DEFAULT_PORT)),
        "aliases": sorted(aliases),
        "backends": backends,
        "local_backends": [b for b in hostvars.get("vllm_backends", []) if b["host"] in LOCAL_HOSTS],
        "sources": [ipaddress.ip_network(r) for r in hostvars.get("firewalld_sources", TAILNET_DEFAULT)],
    }


def env_file(host, path):
    """The variables an env file gives its service, as the container's shell reads it (root only)."""
    with host.sudo():
        out = host.check_output("env -i /bin/sh -c %s", f"set -a && . {shlex.quote(path)} && exec env -0")
    pairs = (item.split("=", 1) for item in out.split("\0") if "=" in item)
    return {name: value for name, value in pairs if name not in ("PWD", "SHLVL", "_")}


def secrets(host):
    """{service: {NAME: value}} of the secrets each service gets: names from the inventory, values from the hosts."""
    hostvars, gw = inventory_vars(host), gateway_settings(host)
    found = {}
    for service, base in (("litellm", gw["base_dir"]), ("vllm", gw["vllm_base_dir"])):
        names = set(hostvars.get(f"{service}_env_secrets", {})) | set(hostvars.get(f"{service}_keyvault_secrets", {}))
        values = env_file(host, f"{base}/.env") if names else {}
        found[service] = {name: values[name] for name in sorted(names) if name in values}
    return found


def gateway_request(host, path, key="master", body=None, stream=False, timeout=120):
    """Call the gateway on the gateway host itself; returns (http_status or 0, body_text).

    The master key never appears on a command line: bash reads it from the env file and hands curl the
    header through a file descriptor. `key` is "master", "none" or "wrong".
    """
    gw = gateway_settings(host)
    auth = {
        "master": "-H @<(printf 'Authorization: Bearer %s\\n' \"$LITELLM_MASTER_KEY\")",
        "wrong": '-H "Authorization: Bearer sk-wrong-$RANDOM"',
        "none": "",
    }[key]
    data = ""
    if body is not None:
        data = "-H 'Content-Type: application/json' --data-binary " + shlex.quote(json.dumps(body))
    cmd = (
        f"set -e; set -a; . {shlex.quote(gw['base_dir'])}/.env; set +a; "
        f"curl -sS {'-N' if stream else ''} --max-time {timeout} -w '\\n%{{http_code}}' {auth} {data} "
        f"http://127.0.0.1:{gw['port']}{path}"
    )
    with host.sudo():
        result = host.run("bash -c %s", cmd)
    if result.rc != 0:  # no HTTP answer at all (refused, timed out)
        return 0, result.stderr
    text, _, status = result.stdout.rpartition("\n")
    return int(status), text


def global_addresses(host):
    """Every global IPv4 and IPv6 address of a host."""
    out = host.check_output("ip -o addr show scope global")
    return [line.split()[3].split("/")[0] for line in out.splitlines()]


def source_for(host, address):
    """The source address `host` uses to reach `address`, or None when it has no route there."""
    result = host.run("ip -o route get %s", address)
    if result.rc != 0:
        return None
    words = result.stdout.split()
    return words[words.index("src") + 1] if "src" in words else None


def url_host(address):
    return f"[{address}]" if ":" in address else address
