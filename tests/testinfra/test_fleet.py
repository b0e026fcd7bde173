"""Several model hosts and gateways, seen through each gateway. Changes nothing (but one entry of the cache).

A model name that several backends serve is one name with several deployments: over a bounded run of
requests through any gateway, every deployment answers (LiteLLM's `x-litellm-model-api-base` header names the
one that did). With the response cache in the shared Redis, an answer cached through one gateway is what every
other gateway answers to the same request.
"""

import collections
import json
import uuid

import helpers
import pytest

testinfra_hosts = ["ansible://llm_gateways"]

RUN = 16  # requests per name at most: with two deployments shuffled, all on one has a chance of 2 ** -15


def _chat(model, content="Say OK.", **extra):
    return {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": 1, **extra}


def _deployments(host):
    """{model name: its deployments' api_base} of the names with more than one deployment."""
    from ansible_collections.tailnet.llm.plugins.plugin_utils.backends import litellm_model_list

    hostvars = helpers.inventory_vars(host)
    model_list = litellm_model_list(hostvars["litellm_backends"], hostvars["litellm_extra_models"])
    bases = collections.defaultdict(set)
    for entry in model_list:
        bases[entry["model_name"]].add(entry["litellm_params"].get("api_base"))
    return {name: found for name, found in bases.items() if len(found) > 1}


def test_every_deployment_of_a_name_answers(host):
    shared = _deployments(host)
    if not shared:
        pytest.skip("no model name has several deployments in the inventory")
    for name, bases in shared.items():
        seen = set()
        for _ in range(RUN):
            status, body, headers = helpers.gateway_request(
                host, "/v1/chat/completions", body=_chat(name), headers=True
            )
            assert status == 200, body[:300]
            seen.add(headers.get("x-litellm-model-api-base"))
            if seen >= bases:
                break
        assert seen == bases, f"{name}: {RUN} requests reached {sorted(seen)} of {sorted(bases)}"


def test_an_answer_cached_through_one_gateway_is_served_by_the_others(host):
    hostvars = helpers.inventory_vars(host)
    others = [name for name in hostvars["groups"]["llm_gateways"] if name != hostvars["inventory_hostname"]]
    if not (hostvars["litellm_cache"] and hostvars["litellm_redis_host"] and others):
        pytest.skip("no response cache shared by several gateways in the inventory")
    # a question no one asked before, so that the first answer is the model's, and is cached
    request = _chat("default", f"Say OK. ({uuid.uuid4()})", cache={"use-cache": True})
    status, first = helpers.gateway_request(host, "/v1/chat/completions", body=request)
    assert status == 200, first[:300]
    first_id = json.loads(first)["id"]
    for name in others:
        other = helpers.inventory_host(host, name)
        status, cached = helpers.gateway_request(other, "/v1/chat/completions", body=request)
        assert status == 200, cached[:300]
        assert json.loads(cached)["id"] == first_id, f"{name} did not answer from the cache"
        # the same question without asking for the cache is answered anew (every answer has its own id)
        request_uncached = {key: value for key, value in request.items() if key != "cache"}
        status, fresh = helpers.gateway_request(other, "/v1/chat/completions", body=request_uncached)
        assert status == 200, fresh[:300]
        assert json.loads(fresh)["id"] != first_id
