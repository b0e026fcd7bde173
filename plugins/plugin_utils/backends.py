# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the collection derives from a backends list (the shape of `vllm_backends`), in one place.

Roles, templates and the testinfra suite all use these functions (through the filters in plugins/filter):
- which backends a host serves itself (`local_backends`);
- the names the gateway serves and what each routes to (`litellm_model_list`);
- what is wrong with the input (`backend_problems`): each problem is one sentence naming the variable
  path and the offending value, so that a failing play tells the operator which inventory entry to fix.
"""

from __future__ import annotations

# A backend on one of these hosts is served by vLLM on the host itself.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
# The inventory's groups of model hosts (vLLM) and gateways (LiteLLM).
MODEL_HOSTS, GATEWAYS = "llm_model_hosts", "llm_gateways"
# The env-file variable holding the key of the model hosts that other gateways reach over the tailnet.
FLEET_KEY_ENV = "VLLM_API_KEY"


def local_backends(backends):
    """The backends served on this host (their host is a loopback name or address)."""
    return [backend for backend in backends if isinstance(backend, dict) and backend.get("host") in LOCAL_HOSTS]


def serves_other_gateways(host, groups):
    """Whether gateways other than HOST itself use HOST's vLLM servers (then they listen on the tailnet)."""
    return bool(set(groups.get(GATEWAYS, [])) - {host})


def gateway_backends(gateway, groups, hostvars):
    """The backends GATEWAY routes to: the local backends of every model host, and the gateway's own list.

    The gateway's own `vllm_backends` are taken as listed (its local ones on loopback, and any other host's
    server written in by hand), unless gateways other than itself use it: then its local ones are reached
    like those of every other model host, at the host's inventory name (its MagicDNS name) with the fleet's
    key.
    """
    hosts = list(dict.fromkeys([*groups.get(MODEL_HOSTS, []), gateway]))
    backends = []
    for host in hosts:
        listed = hostvars[host].get("vllm_backends") or []
        served = local_backends(listed)
        if host == gateway and not serves_other_gateways(host, groups):
            backends += listed
            continue
        backends += [{**backend, "host": host, "api_key_env": FLEET_KEY_ENV} for backend in served]
        if host == gateway:
            backends += [backend for backend in listed if backend not in served]
    return backends


def backend_url(backend):
    """http://HOST:PORT of a backend's vLLM server, with an IPv6 address in brackets."""
    host = backend["host"]
    return f"http://{'[' + host + ']' if ':' in host else host}:{backend['port']}"


def _routes(backends, extra_models):
    """(alias, litellm_params, model_info) of every model, backends first, in inventory order."""
    for backend in backends:
        for model in backend["models"]:
            params = {"model": f"hosted_vllm/{model['id']}", "api_base": backend_url(backend) + "/v1"}
            if "api_key_env" in backend:
                params["api_key"] = f"os.environ/{backend['api_key_env']}"
            # Self-hosted: no price per token. Said explicitly, LiteLLM skips its cost lookup on every request
            # (benchmarks/overhead_bench.py measured about 1 ms at p50).
            info = {"input_cost_per_token": 0, "output_cost_per_token": 0}
            if "max_model_len" in model:
                info["max_input_tokens"] = int(model["max_model_len"])
            yield model["alias"], params, info
    for model in extra_models:
        params = {"model": model["model"]}
        if "api_key_env" in model:
            params["api_key"] = f"os.environ/{model['api_key_env']}"
        if "api_base" in model:
            params["api_base"] = model["api_base"]
        yield model["alias"], params, None


def litellm_model_list(backends, extra_models=(), default_model=""):
    """LiteLLM's model_list: one entry per alias and backend (an alias served by several backends is one model
    name with several deployments), and `default` routed as DEFAULT_MODEL (or the first model) unless an alias
    is `default` itself. Secrets are never in it: keys are os.environ/NAME references."""
    routes = list(_routes(backends, extra_models))
    aliases = [alias for alias, _, _ in routes]
    default_target = None if "default" in aliases else (default_model or next(iter(aliases), None))
    model_list = []
    for alias, params, info in routes:
        for name in [alias] + (["default"] if alias == default_target else []):
            entry = {"model_name": name, "litellm_params": dict(params)}
            if info:
                entry["model_info"] = dict(info)
            model_list.append(entry)
    return model_list


def _shape_problems(backend, where):
    """The backend's missing or mistyped keys (the shape vllm's argument spec documents); [] when well formed."""
    if not isinstance(backend, dict):
        return [f"{where} is {backend!r}: it must be a mapping with name, host, port and models"]
    problems = [
        f"{where}.{key} is {backend.get(key)!r}: it must be a non-empty string"
        for key in ("name", "host")
        if not isinstance(backend.get(key), str) or not backend.get(key)
    ]
    models = backend.get("models")
    if models is not None and not isinstance(models, list):
        return [*problems, f"{where}.models is {models!r}: it must be a list of models"]
    for m_index, model in enumerate(models or []):
        if not isinstance(model, dict):
            problems.append(f"{where}.models[{m_index}] is {model!r}: it must be a mapping with id and alias")
            continue
        problems += [
            f"{where}.models[{m_index}].{key} is {model.get(key)!r}: it must be a non-empty string"
            for key in ("id", "alias")
            if not isinstance(model.get(key), str) or not model.get(key)
        ]
    return problems


def _alias_places(backends, var, extra_models, extra_var):
    """(alias, where, deployment) of every model: deployment is (backend index, model id) for a backend's model."""
    for b_index, backend in enumerate(backends):
        for m_index, model in enumerate(backend.get("models") or []):
            yield model.get("alias"), f"{var}[{b_index}].models[{m_index}]", (b_index, model.get("id"))
    for e_index, model in enumerate(extra_models):
        yield model.get("alias"), f"{extra_var}[{e_index}]", None


def _deployments_of_one_model(first, second):
    """Two backends serving the same model id under one alias: LiteLLM balances between the two."""
    return first is not None and second is not None and first[0] != second[0] and first[1] == second[1]


def backend_problems(
    backends,
    var="vllm_backends",
    extra_models=(),
    extra_var="litellm_extra_models",
    default_model=None,
    default_var="litellm_default_model",
):
    """Return the list of problems with `backends` (empty when they are fine)."""
    problems = [p for b_index, backend in enumerate(backends) for p in _shape_problems(backend, f"{var}[{b_index}]")]
    if problems:  # the checks below read the keys
        return problems
    names = {}
    for b_index, backend in enumerate(backends):
        where = f"{var}[{b_index}]"
        port = backend.get("port")
        if not isinstance(port, int) or not 1 <= port <= 65535:
            problems.append(f"{where}.port is {port!r}: it must be a port number from 1 to 65535")
        name = backend.get("name")
        if name in names:
            problems.append(f"{where}.name {name!r} is already used by {names[name]}")
        names.setdefault(name, where)
        if not backend.get("models"):
            problems.append(f"{where} ({name}) has no models: list at least one")
        ids = {}
        for m_index, model in enumerate(backend.get("models") or []):
            model_id = model.get("id")
            if model_id in ids:
                problems.append(f"{where}.models[{m_index}].id {model_id!r} is already used by {ids[model_id]}")
            ids.setdefault(model_id, f"{where}.models[{m_index}]")

    seen, deployments = {}, {}
    for alias, where, deployment in _alias_places(backends, var, extra_models, extra_var):
        if alias in seen and not _deployments_of_one_model(deployments[alias], deployment):
            what = "the alias 'default' is defined twice" if alias == "default" else f"alias {alias!r} is duplicated"
            problems.append(f"{where}.alias: {what}: {seen[alias]} already has it")
        seen.setdefault(alias, where)
        deployments.setdefault(alias, deployment)

    if default_model is not None:
        if default_model and "default" in seen:
            problems.append(
                f"the alias 'default' is defined twice: {seen['default']} has alias 'default' and "
                f"{default_var} is {default_model!r}; keep one of them"
            )
        elif default_model and default_model not in seen:
            known = ", ".join(sorted(a for a in seen if a)) or "none"
            problems.append(f"{default_var} is {default_model!r}, which is no configured alias (known: {known})")
    return problems


def local_backend_problems(backends, var="vllm_backends"):
    """Problems specific to the backends this host serves itself: vLLM serves one model per server."""
    problems = []
    for b_index, backend in enumerate(backends):
        if backend.get("host") in LOCAL_HOSTS and len(backend.get("models") or []) > 1:
            ids = ", ".join(str(m.get("id")) for m in backend["models"])
            problems.append(
                f"{var}[{b_index}] ({backend.get('name')}) is served on this host and lists several models "
                f"({ids}): one vLLM server serves one model, give each its own backend and port"
            )
    return problems


def completion_probes(models, url, key_env=None):
    """One probe per model: a one-token chat completion POSTed to URL (one for all, or one per model)."""
    urls = [url] * len(models) if isinstance(url, str) else list(url)
    if len(urls) != len(models):
        raise ValueError(f"{len(models)} models but {len(urls)} URLs")
    probes = []
    for model, target in zip(models, urls):
        body = {"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": "Say OK."}]}
        probe = {"name": model, "url": target, "body": body}
        if key_env:
            probe["key_env"] = key_env
        probes.append(probe)
    return probes
