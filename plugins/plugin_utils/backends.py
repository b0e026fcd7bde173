# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the collection derives from a backends list (the shape of `vllm_backends`), in one place.

Roles, templates and the testinfra suite all use these functions (through the filters in plugins/filter):
- which backends a host serves itself (`local_backends`);
- the names the gateway serves and what each routes to (`litellm_model_list`);
- what is wrong with the input (`backend_problems`, and `extra_model_problems` for the models of other
  providers): each problem is one sentence naming the variable path and the offending value (never a key), so
  that a failing play tells the operator which inventory entry to fix;
- the names a gateway answers for (`served_names`) and whether what it lists matches (`served_names_problems`);
- the probes sent after a change, and which of them roll the change back when they fail (`completion_probes`).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# A backend on one of these hosts is served by vLLM on the host itself.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
# The inventory's groups of model hosts (vLLM) and gateways (LiteLLM).
MODEL_HOSTS, GATEWAYS = "llm_model_hosts", "llm_gateways"
# The env-file variable holding the key of the model hosts that other gateways reach over the tailnet.
FLEET_KEY_ENV = "VLLM_API_KEY"

# The providers a model of litellm_extra_models may name: the prefix of its LiteLLM model string. `api_base`:
# whether it must be given (a host of the tailnet has no default address); `key`: whether it needs api_key_env
# ("unless api_base": the provider's own service does, an OpenAI-compatible endpoint at api_base may not).
PROVIDERS = {
    "ollama": {"api_base": True, "key": False},  # Ollama's /api/generate: completion models
    "ollama_chat": {"api_base": True, "key": False},  # Ollama's /api/chat: chat models
    "openai": {"api_base": False, "key": "unless api_base"},  # OpenAI, or any OpenAI-compatible /v1 at api_base
    "text-completion-openai": {"api_base": False, "key": "unless api_base"},  # its /v1/completions
    "anthropic": {"api_base": False, "key": True},
    "gemini": {"api_base": False, "key": True},  # Google AI Studio
    "hosted_vllm": {"api_base": True, "key": False},  # a vLLM server this collection does not deploy
}
# Per-model settings and where LiteLLM 1.106.2 reads each: the deployment's litellm_params (timeouts in seconds,
# the router's retries, rate limits) or its model_info (what the router keeps to itself: the context window,
# cooldown after allowed_fails failures in a minute; litellm_params would be passed on to the provider).
PARAMS_SETTINGS = {"timeout": float, "stream_timeout": float, "num_retries": int, "rpm": int, "tpm": int}
INFO_SETTINGS = {"max_input_tokens": int, "cooldown_time": float, "allowed_fails": int}
# The price of a vLLM model's tokens in USD (optional, 0 without: local models are free unless priced).
PRICES = ("input_cost_per_token", "output_cost_per_token")
# Settings that may be 0 (the others must be positive).
ZERO_ALLOWED = ("num_retries", "cooldown_time", "allowed_fails")
# `strict`: whether a failing probe of the model after a change rolls the gateway back (see completion_probes).
EXTRA_MODEL_KEYS = (
    "alias",
    "model",
    "api_base",
    "api_key_env",
    "fallbacks",
    "strict",
    *PARAMS_SETTINGS,
    *INFO_SETTINGS,
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_wildcard(name):
    """Whether NAME is a wildcard route (LiteLLM matches `*` against any text of a requested name)."""
    return isinstance(name, str) and "*" in name


def local_backends(backends):
    """The backends served on this host (their host is a loopback name or address)."""
    return [backend for backend in backends if isinstance(backend, dict) and backend.get("host") in LOCAL_HOSTS]


def serves_other_gateways(host, groups):
    """Whether gateways other than HOST itself use HOST's vLLM servers (then they listen on the tailnet)."""
    return bool(set(groups.get(GATEWAYS, [])) - {host})


def gateway_backends(gateway, groups, hostvars, own=None):
    """The backends GATEWAY routes to: the local backends of every model host, and the gateway's own list (OWN,
    its vllm_backends as the play sees them; its inventory's when None).

    The gateway's own `vllm_backends` are taken as listed (its local ones on loopback, and any other host's
    server written in by hand), unless gateways other than itself use it: then its local ones are reached
    like those of every other model host, at the host's inventory name (its MagicDNS name) with the fleet's
    key.
    """
    hosts = list(dict.fromkeys([*groups.get(MODEL_HOSTS, []), gateway]))
    backends = []
    for host in hosts:
        listed = (own if host == gateway and own is not None else hostvars[host].get("vllm_backends")) or []
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
            # Self-hosted: no price per token unless the operator prices its tokens (GPU time, for budgets). Said
            # explicitly, LiteLLM skips its cost lookup on every request (benchmarks/overhead_bench.py measured about
            # 1 ms at p50), and a model that costs 0 skips the budget checks.
            info = {price: model.get(price) or 0 for price in PRICES}
            if "max_model_len" in model:
                info["max_input_tokens"] = int(model["max_model_len"])
            yield model["alias"], params, info
    for model in extra_models:
        params = {"model": model["model"]}
        if model.get("api_key_env"):
            params["api_key"] = f"os.environ/{model['api_key_env']}"
        if model.get("api_base"):
            params["api_base"] = model["api_base"]
        params.update({key: model[key] for key in PARAMS_SETTINGS if model.get(key) is not None})
        info = {key: model[key] for key in INFO_SETTINGS if model.get(key) is not None}
        yield model["alias"], params, info or None


def litellm_model_list(backends, extra_models=(), default_model=""):
    """LiteLLM's model_list: one entry per alias and backend (an alias served by several backends is one model
    name with several deployments), and `default` routed as DEFAULT_MODEL (or the first model that is no
    wildcard route) unless an alias is `default` itself. Secrets are never in it: keys are os.environ/NAME
    references."""
    routes = list(_routes(backends, extra_models))
    default_target = _default_target([alias for alias, _params, _info in routes], default_model)
    model_list = []
    for alias, params, info in routes:
        for name in [alias] + (["default"] if alias == default_target else []):
            entry = {"model_name": name, "litellm_params": dict(params)}
            if info:
                entry["model_info"] = dict(info)
            model_list.append(entry)
    return model_list


def _default_target(aliases, default_model):
    """The alias `default` routes as: DEFAULT_MODEL, else the first that is no wildcard route; None when an alias
    is `default` itself."""
    if "default" in aliases:
        return None
    return default_model or next((alias for alias in aliases if not is_wildcard(alias)), None)


def litellm_fallbacks(extra_models, backends=(), default_model=""):
    """LiteLLM's router_settings.fallbacks: [{alias: [alias, ...]}] of the models that list fallbacks, in
    inventory order; `default` falls back as the model it routes to does."""
    fallbacks = [{m["alias"]: list(m["fallbacks"])} for m in extra_models if m.get("fallbacks")]
    aliases = [alias for alias, _params, _info in _routes(backends, extra_models)]
    target = _default_target(aliases, default_model)
    chains = {alias: chain for entry in fallbacks for alias, chain in entry.items()}
    if target in chains:
        fallbacks.append({"default": chains[target]})
    return fallbacks


def served_names(model_list):
    """The names a gateway with MODEL_LIST serves by name (its wildcard routes answer for names it cannot list)."""
    return sorted({entry["model_name"] for entry in model_list if not is_wildcard(entry["model_name"])})


def _wildcard_regex(pattern):
    """The regex LiteLLM's router matches a wildcard route with (re.match: anchored at the start only)."""
    return re.compile(re.escape(pattern).replace(r"\*", "(.*)"))


def served_names_problems(served, model_list):
    """What is wrong with the names a gateway lists (/v1/models) for MODEL_LIST: a name it serves that is not
    listed, or a listed name that no model and no wildcard route covers. For a wildcard route, LiteLLM lists the
    provider's models it knows of (its cost map), not what the host serves: those are accepted, and not required."""
    expected = served_names(model_list)
    wildcards = [_wildcard_regex(e["model_name"]) for e in model_list if is_wildcard(e["model_name"])]
    problems = [f"{name!r} is not listed" for name in expected if name not in served]
    problems += [
        f"{name!r} is listed, but no model and no wildcard route has it"
        for name in served
        if name not in expected and not any(w.match(name) for w in wildcards)
    ]
    return problems


def _context_windows(backends, extra_models):
    """alias -> the context window in tokens where the inventory gives it (the smallest of its deployments)."""
    windows = {}
    for backend in backends:
        for model in backend.get("models") or []:
            if isinstance(model, dict) and isinstance(model.get("max_model_len"), int):
                alias = model.get("alias")
                windows[alias] = min(windows.get(alias, model["max_model_len"]), model["max_model_len"])
    for model in extra_models:
        if isinstance(model, dict) and _is_number(model.get("max_input_tokens"), int):
            windows[model.get("alias")] = model["max_input_tokens"]
    return windows


def _is_number(value, kind):
    """Whether VALUE is a KIND (int, or float which takes an int too), and not a boolean."""
    return not isinstance(value, bool) and isinstance(value, (int, float) if kind is float else int)


def _api_base_problems(model, provider, where):
    api_base = model.get("api_base")
    if api_base is None:
        return (
            [f"{where}.api_base is missing: {provider} has no default address, give its URL"]
            if PROVIDERS[provider]["api_base"]
            else []
        )
    parts = urlsplit(api_base) if isinstance(api_base, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return [f"{where}.api_base is {api_base!r}: it must be an http:// or https:// URL with a host"]
    if parts.username or parts.password or parts.query or parts.fragment:
        # A key in a URL would be written into config.yaml; the value is not shown.
        return [
            f"{where}.api_base must be a plain URL, without user, password, query or fragment: keys only "
            "through api_key_env"
        ]
    return []


def _api_key_problems(model, provider, where, secret_names):
    name = model.get("api_key_env")
    needs = PROVIDERS[provider]["key"]
    if name is None:
        if needs is True or (needs == "unless api_base" and not model.get("api_base")):
            return [
                f"{where}.api_key_env is missing: {provider} needs a key; give the name of its variable in "
                "litellm_env_secrets"
            ]
        return []
    if not isinstance(name, str) or not _ENV_NAME.match(name):
        # Possibly a key put where its name belongs: the value is not shown.
        return [
            f"{where}.api_key_env must be the name of a variable of litellm_env_secrets (letters, digits and _, "
            "e.g. ANTHROPIC_API_KEY), not a key or an os.environ/ reference; the value is not shown"
        ]
    if secret_names is not None and name not in secret_names:
        return [
            f"{where}.api_key_env is {name!r}, which litellm_env_secrets does not hold: map it to its Key Vault "
            f"secret in azure_keyvault_secrets.litellm (or set it in litellm_env_secrets)"
        ]
    return []


def _settings_problems(model, where):
    problems = []
    for key, kind in {**PARAMS_SETTINGS, **INFO_SETTINGS}.items():
        value = model.get(key)
        if value is None:
            continue
        bound = "0 or more" if key in ZERO_ALLOWED else "more than 0"
        what = "a whole number" if kind is int else "a number"
        if not _is_number(value, kind) or value < 0 or (value == 0 and key not in ZERO_ALLOWED):
            problems.append(f"{where}.{key} is {value!r}: it must be {what}, {bound}")
    return problems


def _one_extra_model_problems(model, where, secret_names):
    """The problems of one entry of litellm_extra_models on its own (without the other models)."""
    if not isinstance(model, dict):
        return [f"{where} is {model!r}: it must be a mapping with alias and model"]
    if "api_key" in model:
        # Never shown: it is (or may be) a provider's key.
        return [
            f"{where}.api_key is a key written into the inventory, which is refused: put it in Key Vault (mapped in "
            "azure_keyvault_secrets.litellm) or litellm_env_secrets under a name such as ANTHROPIC_API_KEY, and give "
            "that name as api_key_env; the value is not shown"
        ]
    problems = [
        f"{where}.{key} is not a setting of a model (known: {', '.join(EXTRA_MODEL_KEYS)})"
        for key in model
        if key not in EXTRA_MODEL_KEYS
    ]
    for key in ("alias", "model"):
        if not isinstance(model.get(key), str) or not model.get(key):
            problems.append(f"{where}.{key} is {model.get(key)!r}: it must be a non-empty string")
    if problems:
        return problems
    alias, name = model["alias"], model["model"]
    provider, _slash, provider_model = name.partition("/")
    if provider not in PROVIDERS or not provider_model:
        known = ", ".join(f"{p}/" for p in PROVIDERS)
        return [
            f"{where}.model is {name!r}: it must be PROVIDER/MODEL with a provider of {known} "
            "(an OpenAI-compatible endpoint: openai/MODEL with its api_base)"
        ]
    if alias.count("*") != name.count("*"):
        problems.append(
            f"{where}: alias {alias!r} and model {name!r} must have as many '*': a wildcard route (e.g. alias hab/*, "
            "model ollama_chat/*) passes the text matched by each '*' of the alias on to the model"
        )
    problems += _api_base_problems(model, provider, where)
    problems += _api_key_problems(model, provider, where, secret_names)
    problems += _settings_problems(model, where)
    if "strict" in model and not isinstance(model["strict"], bool):
        problems.append(f"{where}.strict is {model['strict']!r}: it must be true or false")
    return problems


def _fallback_problems(extra_models, var, backends):
    """Fallbacks that name no model (or a wildcard route), the model itself, a smaller context window, or go round."""
    names = {m.get("alias") for b in backends for m in b.get("models") or [] if isinstance(m, dict)}
    names |= {m.get("alias") for m in extra_models if isinstance(m, dict)}
    windows = _context_windows(backends, extra_models)
    problems, graph = [], {}
    for index, model in enumerate(extra_models):
        if not isinstance(model, dict) or model.get("fallbacks") is None:
            continue
        where, alias, chain = f"{var}[{index}]", model.get("alias"), model["fallbacks"]
        if not isinstance(chain, list) or not all(isinstance(t, str) and t for t in chain):
            problems.append(f"{where}.fallbacks is {chain!r}: it must be a list of aliases")
            continue
        if is_wildcard(alias):
            problems.append(f"{where}.fallbacks: {alias!r} is a wildcard route, which LiteLLM cannot fall back from")
            continue
        graph[alias] = chain
        for t_index, target in enumerate(chain):
            at = f"{where}.fallbacks[{t_index}]"
            if target == alias:
                problems.append(f"{at} is {alias!r} itself: a fallback must be another model")
            elif is_wildcard(target) or target not in names:
                known = ", ".join(sorted(n for n in names if isinstance(n, str) and not is_wildcard(n))) or "none"
                problems.append(f"{at} is {target!r}, which is no configured alias (known: {known})")
            elif chain.index(target) != t_index:
                problems.append(f"{at}: {target!r} is listed twice")
            elif alias in windows and target in windows and windows[target] < windows[alias]:
                problems.append(
                    f"{at}: {target!r} has a smaller context window ({windows[target]} tokens) than {alias!r} "
                    f"({windows[alias]}): a request that fits {alias!r} may not fit {target!r}; fall back to a model "
                    f"with at least {windows[alias]} tokens, or lower the max_input_tokens of {alias!r}"
                )
    problems += _fallback_cycles(graph, var, extra_models)
    return problems


def _fallback_cycles(graph, var, extra_models):
    """Fallback chains that lead back to where they started (LiteLLM would go round until max_fallbacks)."""
    places = {m.get("alias"): f"{var}[{i}]" for i, m in enumerate(extra_models) if isinstance(m, dict)}
    reported, problems = set(), []
    for start in graph:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for target in graph.get(node, ()):
                if target == start and len(path) > 1 and frozenset(path) not in reported:
                    reported.add(frozenset(path))
                    circle = " -> ".join([*path, start])
                    problems.append(f"{places[start]}.fallbacks go round in a circle: {circle}")
                elif target not in path:
                    stack.append((target, [*path, target]))
    return problems


def extra_model_problems(
    extra_models, var="litellm_extra_models", backends=(), secret_names=None, router_settings=None
):
    """The problems of the models of other providers (litellm_extra_models), each naming the entry: provider,
    address, key (only ever its name: a literal key is refused, and never shown), per-model settings and
    fallbacks (which must name configured models, not a smaller context window where both are known, and not go
    round). With SECRET_NAMES (the names litellm_env_secrets holds), every api_key_env must be one of them."""
    if not isinstance(extra_models, (list, tuple)):
        return [f"{var} is {extra_models!r}: it must be a list of models"]
    problems = []
    for index, model in enumerate(extra_models):
        problems += _one_extra_model_problems(model, f"{var}[{index}]", secret_names)
    problems += _fallback_problems(extra_models, var, [b for b in backends if isinstance(b, dict)])
    if (router_settings or {}).get("fallbacks") and any(
        isinstance(m, dict) and m.get("fallbacks") for m in extra_models
    ):
        problems.append(
            f"litellm_router_settings.fallbacks and {var}[].fallbacks are both set: give the fallbacks in one "
            "place, the models' fallbacks"
        )
    return problems


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
        if isinstance(model, dict):
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
    secret_names=None,
    router_settings=None,
):
    """Return the list of problems with `backends` and `extra_models` (empty when they are fine).

    SECRET_NAMES and ROUTER_SETTINGS: see extra_model_problems."""
    problems = [p for b_index, backend in enumerate(backends) for p in _shape_problems(backend, f"{var}[{b_index}]")]
    if problems:  # the checks below read the keys
        return problems
    problems = extra_model_problems(extra_models, extra_var, backends, secret_names, router_settings)
    if not isinstance(extra_models, (list, tuple)):
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
            problems += [
                f"{where}.models[{m_index}].{price} is {model[price]!r}: it must be a number of US dollars per token, "
                "0 or more"
                for price in PRICES
                if model.get(price) is not None and (not _is_number(model[price], float) or model[price] < 0)
            ]
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
        elif is_wildcard(default_model):
            problems.append(f"{default_var} is {default_model!r}, a wildcard route: default must route to one model")
        elif default_model and default_model not in seen:
            known = ", ".join(sorted(a for a in seen if isinstance(a, str) and a)) or "none"
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


def lenient_probe_names(backends, extra_models, default_model=""):
    """The names a gateway serves whose failing probe after a change is reported, not rolled back: the models of
    other providers (litellm_extra_models: a cloud, an Ollama box, an endpoint at another api_base), whose outage
    is not the change's fault, unless the entry says `strict: true`; and `default` when it routes to one of them.
    What the collection runs (the vLLM backends, their aliases, `default` routed to one) is never lenient."""
    lenient = {m["alias"] for m in extra_models if not m.get("strict")}
    aliases = [route[0] for route in _routes(backends, extra_models)]
    if _default_target(aliases, default_model) in lenient:
        lenient.add("default")
    return lenient


def completion_probes(models, url, key_env=None, backends=(), extra_models=(), default_model=""):
    """One probe per model: a one-token chat completion POSTed to URL (one for all, or one per model), `strict`
    unless the model is one of EXTRA_MODELS' (see lenient_probe_names; BACKENDS and DEFAULT_MODEL tell where
    `default` routes)."""
    urls = [url] * len(models) if isinstance(url, str) else list(url)
    if len(urls) != len(models):
        raise ValueError(f"{len(models)} models but {len(urls)} URLs")
    lenient = lenient_probe_names(backends, extra_models, default_model) if extra_models else set()
    probes = []
    for model, target in zip(models, urls):
        body = {"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": "Say OK."}]}
        probe = {"name": model, "url": target, "body": body, "strict": model not in lenient}
        if key_env:
            probe["key_env"] = key_env
        probes.append(probe)
    return probes
