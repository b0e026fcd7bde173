# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's part of the tailnet policy file, derived from the inventory's groups, in one place.

One tag per role (the inventory group says what a host does); the policy file's access rules follow from the
same facts the roles deploy:
- clients (`llm_clients`) reach the gateways' LiteLLM port, nothing else;
- gateways (`llm_gateways`) reach the model hosts' vLLM ports and the state host's Redis and PostgreSQL ports,
  nothing else;
- the monitoring hosts (`llm_monitoring_hosts`) reach the exporter ports of every host they read (node exporter,
  the state host's exporters, the gateways' LiteLLM metrics port, vLLM's ports), the ports plugin_utils.monitoring
  gives the firewall, nothing else;
- the operators (users, groups or autogroups) reach SSH (22) on every host of the collection;
- the subnet routes and exit nodes the inventory declares (`tailscale_advertise_routes`,
  `tailscale_advertise_exit_node`) are auto-approved for the advertising host's tags.

The part carries its own `tests` (accept and deny cases computed from the same facts), so that Tailscale refuses
a policy file that breaks them. `host_tags` gives each host its tags for joining the tailnet
(artis3n.tailscale's `tailscale_tags`, which adds the `tag:` itself).

Which entries of a policy file are the collection's (tailnet.llm.tailscale_policy module,
module_utils/tailscale_policy_merge.py): those between the `// BEGIN tailnet.llm managed` and
`// END tailnet.llm managed` comments of each section; everything else is the operator's (docs/tailnet-policy.md).
"""

from __future__ import annotations

import ipaddress

from ansible_collections.tailnet.llm.plugins.plugin_utils.backends import GATEWAYS, MODEL_HOSTS, local_backends
from ansible_collections.tailnet.llm.plugins.plugin_utils.monitoring import MONITORING_HOSTS, exporter_ports

STATE_HOSTS, CLIENTS = "llm_state_hosts", "llm_clients"
# Inventory group -> tag name (without `tag:`), in the order hosts list their tags.
ROLE_TAGS = {
    GATEWAYS: "llm-gateway",
    MODEL_HOSTS: "llm-model-host",
    STATE_HOSTS: "llm-state-host",
    CLIENTS: "llm-client",
    MONITORING_HOSTS: "llm-monitoring-host",
}
# The roles' defaults, for hosts whose inventory does not set them (tests/unit checks they match the roles').
DEFAULT_LITELLM_PORT = 4000
DEFAULT_REDIS_PORT = 6379
POSTGRESQL_PORT = 5432  # fixed by the state_store role (roles/state_store/vars/main.yml)
SSH_PORT = 22


def tag(name):
    return f"tag:{name}"


def host_tags(host, groups):
    """The tags (without `tag:`) of HOST: one per role group it is in."""
    return [name for group, name in ROLE_TAGS.items() if host in groups.get(group, [])]


def _port(value, where):
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = 0
    if not 1 <= port <= 65535:
        raise ValueError(f"{where} is {value!r}: it must be a port number from 1 to 65535")
    return port


def _role_ports(groups, hostvars):
    """{group: sorted TCP ports the tailnet must let through to that role's hosts}."""
    gateway = {
        _port(hostvars[h].get("litellm_port", DEFAULT_LITELLM_PORT), f"host {h}: litellm_port")
        for h in groups.get(GATEWAYS, [])
    }
    vllm = {
        _port(b.get("port"), f"host {h}: vllm_backends ({b.get('name')}).port")
        for h in groups.get(MODEL_HOSTS, [])
        for b in local_backends(hostvars[h].get("vllm_backends") or [])
    }
    state = set()
    for h in groups.get(STATE_HOSTS, []):
        redis = hostvars[h].get("state_store_redis_port", DEFAULT_REDIS_PORT)
        state |= {_port(redis, f"host {h}: state_store_redis_port"), POSTGRESQL_PORT}
    return {
        GATEWAYS: sorted(gateway),
        MODEL_HOSTS: sorted(vllm),
        STATE_HOSTS: sorted(state),
        CLIENTS: [],
        MONITORING_HOSTS: [],
    }


def _exporter_ports(groups, hostvars):
    """{group: sorted TCP ports the monitoring hosts read on that role's hosts}, none without a monitoring host."""
    if not groups.get(MONITORING_HOSTS):
        return {group: [] for group in ROLE_TAGS}
    return {
        group: sorted(
            {int(spec.split("/")[0]) for h in groups.get(group, []) for spec in exporter_ports(h, groups, hostvars)}
        )
        for group in ROLE_TAGS
    }


def _principals(values, var, allow_tags=False):
    """Check a list of users (name@domain), groups (group:NAME) or autogroups (autogroup:NAME)."""
    if not isinstance(values, (list, tuple)) or not values:
        raise ValueError(f"{var} is {values!r}: it must be a non-empty list of users, groups or autogroups")
    kinds = ("group:", "autogroup:", "tag:") if allow_tags else ("group:", "autogroup:")
    for value in values:
        if not isinstance(value, str) or not (value.startswith(kinds) or "@" in value):
            raise ValueError(
                f"{var}: {value!r} is no user (name@domain), group (group:NAME) or autogroup (autogroup:NAME)"
                + (" or tag (tag:NAME)" if allow_tags else "")
            )
    return list(values)


def _auto_approvers(groups, hostvars):
    """autoApprovers for the routes and exit nodes the inventory's hosts advertise: each by its host's tags."""
    routes, exit_node = {}, []
    hosts = dict.fromkeys(h for group in ROLE_TAGS for h in groups.get(group, []))
    for host in hosts:
        tags = [tag(name) for name in host_tags(host, groups)]
        advertised = hostvars[host].get("tailscale_advertise_routes") or []
        if not isinstance(advertised, (list, tuple)):
            raise ValueError(f"host {host}: tailscale_advertise_routes is {advertised!r}: it must be a list of CIDRs")
        for route in advertised:
            try:
                network = str(ipaddress.ip_network(route))
            except ValueError as e:
                raise ValueError(f"host {host}: tailscale_advertise_routes: {route!r} is not a network: {e}") from e
            approvers = routes.setdefault(network, [])
            approvers += [t for t in tags if t not in approvers]
        if hostvars[host].get("tailscale_advertise_exit_node", False):
            exit_node += [t for t in tags if t not in exit_node]
    approvers = {}
    if routes:
        approvers["routes"] = dict(sorted(routes.items()))
    if exit_node:
        approvers["exitNode"] = exit_node
    return approvers


def _reachable(grants, src, dst):
    """TCP ports the grants let SRC reach on a device tagged DST."""
    ports = set()
    for grant in grants:
        if src in grant["src"] and dst in grant["dst"]:
            ports |= {int(spec.split(":")[1]) for spec in grant["ip"]}
    return ports


def _tests(grants, groups, ports, operators, exported):
    """Accept and deny cases for every role that sends traffic, and SSH for the operators.

    A deny case `tag:T:p` is only written when no host carrying T is reachable at p through another of its tags
    (a host in two roles is one device with both tags): Tailscale would evaluate it against that device.
    """
    present = [g for g in ROLE_TAGS if groups.get(g)]
    known = sorted({SSH_PORT, *(p for g in present for p in ports[g] + exported[g])})
    tests = []
    for src_group in (CLIENTS, GATEWAYS, MONITORING_HOSTS):
        if src_group not in present:
            continue
        src = tag(ROLE_TAGS[src_group])
        accept, deny, udp_deny = [], [], []
        for dst_group in present:
            dst = tag(ROLE_TAGS[dst_group])
            allowed = _reachable(grants, src, dst)
            accept += [f"{dst}:{p}" for p in sorted(allowed)]
            udp_deny += [f"{dst}:{p}" for p in sorted(allowed)]
            for port in known:
                carriers = groups[dst_group]
                if all(port not in _reachable(grants, src, tag(t)) for h in carriers for t in host_tags(h, groups)):
                    deny.append(f"{dst}:{port}")
        case = {"src": src, "proto": "tcp"}
        if accept:
            case["accept"] = accept
        if deny:
            case["deny"] = deny
        if accept or deny:
            tests.append(case)
        if udp_deny:
            tests.append({"src": src, "proto": "udp", "deny": udp_deny})
    # Autogroups cannot be the source of a test: only users and groups get one.
    for operator in operators:
        if not operator.startswith("autogroup:"):
            tests.append(
                {
                    "src": operator,
                    "proto": "tcp",
                    "accept": [f"{tag(ROLE_TAGS[g])}:{SSH_PORT}" for g in present],
                }
            )
    return tests


def tailscale_policy(groups, hostvars, tag_owners, operators):
    """The collection's part of the tailnet policy file (tagOwners, grants, autoApprovers, tests).

    Every role's tag is in tagOwners (owned by TAG_OWNERS) even while its group is empty, so the tags stay the
    collection's namespace; rules and tests are written for the roles that have hosts. Raises ValueError naming
    the variable (and host) when an input is wrong.
    """
    owners = _principals(tag_owners, "tailscale_policy_tag_owners", allow_tags=True)
    operators = _principals(operators, "tailscale_policy_operators")
    ports = _role_ports(groups, hostvars)
    present = {g for g in ROLE_TAGS if groups.get(g)}
    gateway, model, state, client = (tag(ROLE_TAGS[g]) for g in (GATEWAYS, MODEL_HOSTS, STATE_HOSTS, CLIENTS))
    grants = []

    def grant(src_group, dst_group, src, dst):
        if src_group in present and dst_group in present and ports[dst_group]:
            grants.append({"src": [src], "dst": [dst], "ip": [f"tcp:{p}" for p in ports[dst_group]]})

    grant(CLIENTS, GATEWAYS, client, gateway)
    grant(GATEWAYS, MODEL_HOSTS, gateway, model)
    grant(GATEWAYS, STATE_HOSTS, gateway, state)
    exported = _exporter_ports(groups, hostvars)
    for dst_group in ROLE_TAGS:
        if MONITORING_HOSTS in present and dst_group in present and exported[dst_group]:
            grants.append(
                {
                    "src": [tag(ROLE_TAGS[MONITORING_HOSTS])],
                    "dst": [tag(ROLE_TAGS[dst_group])],
                    "ip": [f"tcp:{p}" for p in exported[dst_group]],
                }
            )
    if present:
        everyone = [tag(ROLE_TAGS[g]) for g in ROLE_TAGS if g in present]
        grants.append({"src": operators, "dst": everyone, "ip": [f"tcp:{SSH_PORT}"]})

    policy = {"tagOwners": {tag(name): list(owners) for name in ROLE_TAGS.values()}, "grants": grants}
    approvers = _auto_approvers(groups, hostvars)
    if approvers:
        policy["autoApprovers"] = approvers
    policy["tests"] = _tests(grants, groups, ports, operators, exported)
    return policy
