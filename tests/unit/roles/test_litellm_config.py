"""config.yaml is data: rendered by the litellm role's own template and vars from inventory-shaped input.

Each case runs ansible-playbook for real on localhost, rendering roles/litellm/templates/config.yaml.j2
with the role's defaults and vars (the model list comes from the tailnet.llm.litellm_model_list filter),
and reads the result back as YAML.
"""

import json

import helpers
import pytest
import yaml

SECRET = "sk-this-value-must-never-be-in-config"

BACKENDS = [
    {
        "name": "akira-local",
        "host": "127.0.0.1",
        "port": 8000,
        "models": [{"id": "qwen2.5-7b", "alias": "akira/qwen2.5-7b", "max_model_len": 32768}],
    },
    {
        "name": "tachikoma",
        "host": "fd7a:115c:a1e0::12",
        "port": 8001,
        "models": [{"id": "llama3-8b", "alias": "tachikoma/llama3-8b"}, {"id": "phi-4", "alias": "tachikoma/phi-4"}],
    },
]


def render(tmp_path, **hostvars):
    """config.yaml from the role's template, defaults and vars, with HOSTVARS as the inventory's."""
    variables = {"litellm_env_secrets": {"LITELLM_MASTER_KEY": SECRET}, **hostvars}
    text = helpers.render("litellm", {"config": ("config.yaml.j2", variables)}, tmp_path)["config"]
    assert SECRET not in text
    return yaml.safe_load(text), text


def by_name(config):
    return {entry["model_name"]: entry for entry in config["model_list"]}


def test_one_entry_per_alias_plus_default(tmp_path):
    config, text = render(tmp_path, litellm_backends=BACKENDS)
    models = by_name(config)
    assert sorted(models) == sorted(["akira/qwen2.5-7b", "tachikoma/llama3-8b", "tachikoma/phi-4", "default"])
    assert len(config["model_list"]) == 4
    assert models["akira/qwen2.5-7b"]["litellm_params"] == {
        "model": "hosted_vllm/qwen2.5-7b",
        "api_base": "http://127.0.0.1:8000/v1",
    }
    assert models["akira/qwen2.5-7b"]["model_info"] == {
        "max_input_tokens": 32768,
        "input_cost_per_token": 0,
        "output_cost_per_token": 0,
    }
    assert models["tachikoma/phi-4"]["litellm_params"] == {
        "model": "hosted_vllm/phi-4",
        "api_base": "http://[fd7a:115c:a1e0::12]:8001/v1",
    }
    assert models["default"]["litellm_params"] == models["akira/qwen2.5-7b"]["litellm_params"]
    assert config["general_settings"]["master_key"] == "os.environ/LITELLM_MASTER_KEY"
    assert text.startswith("#")  # ansible_managed header


def test_default_model_variable_picks_the_target(tmp_path):
    config, _ = render(tmp_path, litellm_backends=BACKENDS, litellm_default_model="tachikoma/phi-4")
    models = by_name(config)
    assert models["default"]["litellm_params"] == models["tachikoma/phi-4"]["litellm_params"]


def test_explicit_default_alias_is_not_duplicated(tmp_path):
    backends = json.loads(json.dumps(BACKENDS))
    backends[1]["models"][0]["alias"] = "default"
    config, _ = render(tmp_path, litellm_backends=backends)
    names = [entry["model_name"] for entry in config["model_list"]]
    assert names.count("default") == 1
    assert by_name(config)["default"]["litellm_params"]["model"] == "hosted_vllm/llama3-8b"


def test_extra_models_use_environment_references(tmp_path):
    extra = [
        {"alias": "openai/gpt-4o", "model": "openai/gpt-4o", "api_key_env": "OPENAI_API_KEY"},
        {"alias": "motoko/llama3", "model": "ollama/llama3", "api_base": "http://motoko:11434"},
    ]
    config, _ = render(tmp_path, litellm_backends=BACKENDS[:1], litellm_extra_models=extra)
    models = by_name(config)
    assert models["openai/gpt-4o"]["litellm_params"] == {
        "model": "openai/gpt-4o",
        "api_key": "os.environ/OPENAI_API_KEY",
    }
    assert models["motoko/llama3"]["litellm_params"] == {"model": "ollama/llama3", "api_base": "http://motoko:11434"}
    assert sorted(models) == sorted(["akira/qwen2.5-7b", "openai/gpt-4o", "motoko/llama3", "default"])


ROUTER_DEFAULTS = {"num_retries": 3, "allowed_fails": 1, "cooldown_time": 30, "routing_strategy": "simple-shuffle"}
REDIS = {"host": "tessier", "port": 6379, "password": "os.environ/REDIS_PASSWORD"}


def test_router_retries_and_leaves_out_a_failing_deployment_by_default(tmp_path):
    config, _ = render(tmp_path, litellm_backends=BACKENDS[:1])
    assert config["router_settings"] == ROUTER_DEFAULTS


@pytest.mark.parametrize(
    "settings",
    [
        {"num_retries": 2, "timeout": 30},
        {"fallbacks": [{"akira/qwen2.5-7b": ["openai/gpt-4o"]}], "routing_strategy": "least-busy"},
    ],
)
def test_router_settings_win_over_the_defaults(tmp_path, settings):
    config, _ = render(tmp_path, litellm_backends=BACKENDS[:1], litellm_router_settings=settings)
    assert config["router_settings"] == {**ROUTER_DEFAULTS, **settings}


def test_routing_strategy_is_a_variable(tmp_path):
    config, _ = render(tmp_path, litellm_backends=BACKENDS[:1], litellm_routing_strategy="latency-based-routing")
    assert config["router_settings"]["routing_strategy"] == "latency-based-routing"


def test_shared_redis_holds_router_state_coordination_and_cache(tmp_path):
    config, text = render(
        tmp_path,
        litellm_backends=BACKENDS[:1],
        litellm_redis_host="tessier",
        litellm_cache=True,
        litellm_cache_params={"mode": "default_off", "ttl": 600},
        litellm_env_secrets={"LITELLM_MASTER_KEY": SECRET, "REDIS_PASSWORD": "redis-secret-value"},
    )
    assert "redis-secret-value" not in text
    assert config["router_settings"] == {
        **ROUTER_DEFAULTS,
        "redis_host": "tessier",
        "redis_port": 6379,
        "redis_password": "os.environ/REDIS_PASSWORD",
    }
    assert config["general_settings"]["coordination_redis"] == REDIS
    assert config["litellm_settings"]["cache"] is True
    assert config["litellm_settings"]["cache_params"] == {**REDIS, "type": "redis", "mode": "default_off", "ttl": 600}


@pytest.mark.parametrize(("cache", "expected"), [(False, None), (True, {"type": "local"})])
def test_without_redis_the_cache_is_each_gateways_own(tmp_path, cache, expected):
    config, _ = render(tmp_path, litellm_backends=BACKENDS[:1], litellm_cache=cache)
    assert config["litellm_settings"].get("cache_params") == expected
    assert "coordination_redis" not in config["general_settings"]
    assert "redis_host" not in config["router_settings"]


@pytest.mark.parametrize(("migrate", "checks_only"), [(True, None), (False, True)])
def test_only_the_migrating_gateway_updates_the_database_schema(tmp_path, migrate, checks_only):
    config, _ = render(
        tmp_path,
        litellm_backends=BACKENDS[:1],
        litellm_database_host="tessier",
        litellm_database_migrate=migrate,
        litellm_env_secrets={"LITELLM_MASTER_KEY": SECRET, "DATABASE_PASSWORD": "db-secret-value"},
    )
    assert config["general_settings"].get("disable_prisma_schema_update") is checks_only


def test_bad_environment_fails_before_any_change(tmp_path):
    """litellm's check_env: the master key, then the shared rule for names and values (tailnet.llm.env_problems)."""
    master = {"LITELLM_MASTER_KEY": SECRET}
    checked = helpers.failures(
        "litellm",
        "check_env.yml",
        {
            "no-master-key": {"litellm_env_secrets": {}},
            "bad-name": {"litellm_env_secrets": master, "litellm_env": {"NO SPACES": "1"}},
            "good": {"litellm_env_secrets": master, "litellm_env": {"HF_HUB_OFFLINE": "1"}},
            "redis-no-password": {"litellm_env_secrets": master, "litellm_redis_host": "tessier"},
            "database-no-password": {
                "litellm_env_secrets": {**master, "REDIS_PASSWORD": "x"},
                "litellm_redis_host": "tessier",
                "litellm_database_host": "tessier",
            },
        },
        tmp_path,
    )
    assert checked["no-master-key"].startswith("host localhost: litellm_env_secrets must hold LITELLM_MASTER_KEY")
    assert checked["bad-name"] == (
        'host localhost: litellm_env: "NO SPACES" is not an environment variable name'
        " (letters, digits and _, not starting with a digit)"
    )
    assert checked["good"] is None
    assert checked["redis-no-password"].startswith(
        "host localhost: litellm_env_secrets must hold REDIS_PASSWORD, because litellm_redis_host is tessier"
    )
    assert checked["database-no-password"].startswith(
        "host localhost: litellm_env_secrets must hold DATABASE_PASSWORD, because litellm_database_host is tessier"
    )


@pytest.mark.parametrize("database_host", ["", "tessier"])
def test_database_mode_gets_the_parts_of_its_url_never_the_url(tmp_path, database_host):
    """LiteLLM builds its database URL inside the container from DATABASE_HOST, _USERNAME, _NAME and the secret
    DATABASE_PASSWORD: no URL with the password in it is written anywhere."""
    secrets = {"LITELLM_MASTER_KEY": SECRET, "DATABASE_PASSWORD": "db-secret-value"}
    variables = {
        "litellm_backends": BACKENDS[:1],
        "litellm_database_host": database_host,
        "litellm_env_secrets": secrets,
        "compose_service_env": "{{ __litellm_env }}",
    }
    template = helpers.REPO / "roles" / "compose_service" / "templates" / "env.j2"
    text = helpers.render("litellm", {"env": (template, variables)}, tmp_path)["env"]
    names = {line.split("=", 1)[0] for line in text.splitlines() if "=" in line and not line.startswith("#")}
    parts = {"DATABASE_HOST", "DATABASE_USERNAME", "DATABASE_NAME"}
    assert parts <= names if database_host else not parts & names
    assert "DATABASE_URL" not in names
    assert f"DATABASE_HOST={database_host}" in text.splitlines() or not database_host
