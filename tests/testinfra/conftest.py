"""Helpers shared by the testinfra suites.

The same tests validate the molecule lab (`molecule verify`) and the real hosts
(`make validate-litellm`); everything they expect is read from the inventory, never hard-coded.
"""

import json
import shlex

DEFAULT_BASE_DIR = "/flux/apps/litellm"
DEFAULT_PORT = 4000


def inventory_vars(host):
    return host.ansible.get_variables()


def gateway_settings(host):
    """Base dir, port and the exact list of names the gateway must serve, from the inventory."""
    hostvars = inventory_vars(host)
    backends = hostvars.get("litellm_backends", hostvars.get("vllm_backends", []))
    aliases = [m["alias"] for b in backends for m in b["models"]]
    aliases += [m["alias"] for m in hostvars.get("litellm_extra_models", [])]
    if "default" not in aliases:
        aliases.append("default")
    return {
        "base_dir": hostvars.get("litellm_base_dir", DEFAULT_BASE_DIR),
        "port": int(hostvars.get("litellm_port", DEFAULT_PORT)),
        "aliases": sorted(aliases),
        "backends": backends,
    }


def gateway_request(host, path, key="master", body=None, stream=False, timeout=120):
    """Call the gateway on the gateway host itself; returns (http_status or 0, body_text).

    The master key never appears on a command line: the shell reads it from the env file.
    `key` is "master", "none" or "wrong".
    """
    gw = gateway_settings(host)
    auth = {
        "master": '-H "Authorization: Bearer $LITELLM_MASTER_KEY"',
        "wrong": '-H "Authorization: Bearer sk-wrong-$RANDOM"',
        "none": "",
    }[key]
    data = ""
    if body is not None:
        data = "-H 'Content-Type: application/json' --data-binary " + shlex.quote(json.dumps(body))
    cmd = (
        f"set -e; LITELLM_MASTER_KEY=$(sed -n 's/^LITELLM_MASTER_KEY=//p' {shlex.quote(gw['base_dir'])}/.env); "
        f"curl -sS {'-N' if stream else ''} --max-time {timeout} -w '\\n%{{http_code}}' {auth} {data} "
        f"http://127.0.0.1:{gw['port']}{path}"
    )
    result = host.run("bash -c %s", cmd)
    if result.rc != 0:  # no HTTP answer at all (refused, timed out)
        return 0, result.stderr
    text, _, status = result.stdout.rpartition("\n")
    return int(status), text
