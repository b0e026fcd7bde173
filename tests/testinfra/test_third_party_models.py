"""A model another provider serves that is down and has no fallback (the lab's probe-down) does not hold the deploy
hostage: the gateway runs the configuration that lists it (its failing probe after the change was reported, not
rolled back), lists it, and answers an error for it while its other models answer. Changes nothing."""

import json

import helpers
import pytest
import yaml

testinfra_hosts = ["ansible://llm_gateways"]


def _chat(model):
    return {"model": model, "messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 1}


@pytest.fixture
def dead(host):
    found = helpers.dead_models(host)
    if not found:
        pytest.skip("no model of this inventory is down by design (the lab's probe-down is)")
    return found


def test_the_deployed_configuration_has_the_dead_model(host, dead):
    with host.sudo():
        config = yaml.safe_load(host.file(f"{helpers.gateway_settings(host)['base_dir']}/config.yaml").content_string)
    assert set(dead) <= {entry["model_name"] for entry in config["model_list"]}


def test_the_gateway_lists_the_dead_model_and_answers_an_error_for_it_only(host, dead):
    status, body = helpers.gateway_request(host, "/v1/models")
    assert status == 200, body[:500]
    assert set(dead) <= {model["id"] for model in json.loads(body)["data"]}
    for alias in dead:
        status, body = helpers.gateway_request(host, "/v1/chat/completions", body=_chat(alias), timeout=60)
        assert status >= 400, f"{alias}: {status} {body[:300]}"
        assert "error" in json.loads(body), body[:300]
    status, body = helpers.gateway_request(host, "/v1/chat/completions", body=_chat("default"), timeout=60)
    assert status == 200, body[:500]
