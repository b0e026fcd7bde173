# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks on the `vllm_backends` shape that argument specs cannot express.

Each problem is one sentence naming the variable path and the offending value, so that a
failing play tells the operator exactly which inventory entry to fix.
"""

from __future__ import annotations

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _alias_places(backends, var, extra_models, extra_var):
    for b_index, backend in enumerate(backends):
        for m_index, model in enumerate(backend.get("models") or []):
            yield model.get("alias"), f"{var}[{b_index}].models[{m_index}]"
    for e_index, model in enumerate(extra_models):
        yield model.get("alias"), f"{extra_var}[{e_index}]"


def backend_problems(
    backends,
    var="vllm_backends",
    extra_models=(),
    extra_var="litellm_extra_models",
    default_model=None,
    default_var="litellm_default_model",
):
    """Return the list of problems with `backends` (empty when they are fine)."""
    problems = []
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

    seen = {}
    for alias, where in _alias_places(backends, var, extra_models, extra_var):
        if alias in seen:
            what = "the alias 'default' is defined twice" if alias == "default" else f"alias {alias!r} is duplicated"
            problems.append(f"{where}.alias: {what}: {seen[alias]} already has it")
        seen.setdefault(alias, where)

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
