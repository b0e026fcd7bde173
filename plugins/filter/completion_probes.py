# Copyright: tailnet.llm maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.tailnet.llm.plugins.plugin_utils.backends import completion_probes

DOCUMENTATION = r"""
name: completion_probes
short_description: One-token chat completions that check a change of a model server or gateway
description:
  - Returns one probe per model, in the shape of C(compose_service_probes) (the internal role
    tailnet.llm.compose_service). Each is a one-token chat completion of that model, POSTed to O(url).
  - Every probe is C(strict) (its failure rolls the change back) except those of the models served by someone
    else, the entries of O(extra_models) (a cloud provider, an Ollama box, an endpoint at another C(api_base)),
    and of C(default) when it routes to one of them; an entry with C(strict=true) stays strict. Their outage
    is reported, and does not stop the deploy.
options:
  _input:
    description: Model names (the aliases a gateway serves, or the ids vLLM serves).
    type: list
    elements: str
    required: true
  url:
    description: The chat completions URL, one for every model or a list with one per model.
    type: raw
    required: true
  key_env:
    description: Variable of the service's environment whose value is sent as the bearer token.
    type: str
  backends:
    description: The gateway's vLLM backends (the shape of C(litellm_backends)), to tell where C(default) routes.
    type: list
    elements: dict
    default: []
  extra_models:
    description: The models of other providers (the shape of C(litellm_extra_models)), whose probes are lenient.
    type: list
    elements: dict
    default: []
  default_model:
    description: The alias C(default) routes to (C(litellm_default_model)); empty for the first model.
    type: str
    default: ""
"""

EXAMPLES = r"""
litellm_probes: >-
  {{ ['akira/qwen2.5-7b', 'default'] | tailnet.llm.completion_probes('http://127.0.0.1:4000/v1/chat/completions',
     'LITELLM_MASTER_KEY') }}

# The names a gateway serves; the probes of litellm_extra_models' entries have strict=false.
gateway_probes: >-
  {{ __litellm_aliases | tailnet.llm.completion_probes('http://127.0.0.1:4000/v1/chat/completions',
     'LITELLM_MASTER_KEY', backends=litellm_backends, extra_models=litellm_extra_models,
     default_model=litellm_default_model) }}
"""

RETURN = r"""
_value:
  description: Probes with C(name), C(url), C(body), C(strict) and, with O(key_env), C(key_env).
  type: list
  elements: dict
"""


def _completion_probes(models, url, key_env=None, backends=(), extra_models=(), default_model=""):
    try:
        return completion_probes(list(models), url, key_env, list(backends), list(extra_models), default_model or "")
    except ValueError as e:
        raise AnsibleFilterError(f"completion_probes: {e}") from e


class FilterModule:
    def filters(self):
        return {"completion_probes": _completion_probes}
