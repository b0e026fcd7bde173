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
    config, _text = render(tmp_path, litellm_backends=BACKENDS, litellm_default_model="tachikoma/phi-4")
    models = by_name(config)
    assert models["default"]["litellm_params"] == models["tachikoma/phi-4"]["litellm_params"]


def test_explicit_default_alias_is_not_duplicated(tmp_path):
    backends = json.loads(json.dumps(BACKENDS))
    backends[1]["models"][0]["alias"] = "default"
    config, _text = render(tmp_path, litellm_backends=backends)
    names = [entry["model_name"] for entry in config["model_list"]]
    assert names.count("default") == 1
    assert by_name(config)["default"]["litellm_params"]["model"] == "hosted_vllm/llama3-8b"


def test_extra_models_use_environment_references(tmp_path):
    extra = [
        {"alias": "openai/gpt-4o", "model": "openai/gpt-4o", "api_key_env": "OPENAI_API_KEY"},
        {"alias": "motoko/llama3", "model": "ollama/llama3", "api_base": "http://motoko:11434"},
    ]
    config, _text = render(tmp_path, litellm_backends=BACKENDS[:1], litellm_extra_models=extra)
    models = by_name(config)
    assert models["openai/gpt-4o"]["litellm_params"] == {
        "model": "openai/gpt-4o",
        "api_key": "os.environ/OPENAI_API_KEY",
    }
    assert models["motoko/llama3"]["litellm_params"] == {"model": "ollama/llama3", "api_base": "http://motoko:11434"}
    assert sorted(models) == sorted(["akira/qwen2.5-7b", "openai/gpt-4o", "motoko/llama3", "default"])


ROUTER_DEFAULTS = {
    "num_retries": 3,
    "allowed_fails": 1,
    "cooldown_time": 30,
    "enable_weighted_failover": True,
    "routing_strategy": "simple-shuffle",
}
REDIS = {"host": "tessier", "port": 6379, "password": "os.environ/REDIS_PASSWORD"}


def test_router_retries_and_leaves_out_a_failing_deployment_by_default(tmp_path):
    config, _text = render(tmp_path, litellm_backends=BACKENDS[:1])
    assert config["router_settings"] == ROUTER_DEFAULTS


@pytest.mark.parametrize(
    "settings",
    [
        {"num_retries": 2, "timeout": 30},
        {"fallbacks": [{"akira/qwen2.5-7b": ["openai/gpt-4o"]}], "routing_strategy": "least-busy"},
    ],
)
def test_router_settings_win_over_the_defaults(tmp_path, settings):
    config, _text = render(tmp_path, litellm_backends=BACKENDS[:1], litellm_router_settings=settings)
    assert config["router_settings"] == {**ROUTER_DEFAULTS, **settings}


def test_routing_strategy_is_a_variable(tmp_path):
    config, _text = render(tmp_path, litellm_backends=BACKENDS[:1], litellm_routing_strategy="latency-based-routing")
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
    config, _text = render(tmp_path, litellm_backends=BACKENDS[:1], litellm_cache=cache)
    assert config["litellm_settings"].get("cache_params") == expected
    assert "coordination_redis" not in config["general_settings"]
    assert "redis_host" not in config["router_settings"]


@pytest.mark.parametrize("migrate", [True, False])
def test_no_gateway_migrates_the_database_at_start_up(tmp_path, migrate):
    """The explicit step (tasks/migrate.yml) migrates; every gateway, the migrating one too, only checks the schema."""
    config, _text = render(
        tmp_path,
        litellm_backends=BACKENDS[:1],
        litellm_database_host="tessier",
        litellm_database_migrate=migrate,
        litellm_env_secrets={"LITELLM_MASTER_KEY": SECRET, "DATABASE_PASSWORD": "db-secret-value"},
    )
    assert config["general_settings"]["disable_prisma_schema_update"] is True
    without, _text = render(tmp_path, litellm_backends=BACKENDS[:1])
    assert "disable_prisma_schema_update" not in without["general_settings"]


def test_in_database_mode_known_callers_are_answered_while_the_database_is_down(tmp_path):
    config, _text = render(
        tmp_path,
        litellm_backends=BACKENDS[:1],
        litellm_database_host="tessier",
        litellm_env_secrets={"LITELLM_MASTER_KEY": SECRET, "DATABASE_PASSWORD": "db-secret-value"},
    )
    assert config["general_settings"]["allow_requests_on_db_unavailable"] is True
    without, _text = render(tmp_path, litellm_backends=BACKENDS[:1])
    assert "allow_requests_on_db_unavailable" not in without["general_settings"]


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


RUNBOOK_MODELS = [
    {
        "alias": "ollama/llama3",
        "model": "ollama_chat/llama3",
        "api_base": "http://hab:11434",
        "max_input_tokens": 8192,
        "fallbacks": ["akira/qwen2.5-7b"],
    },
    {"alias": "hab/*", "model": "ollama_chat/*", "api_base": "http://hab:11434"},
    {
        "alias": "claude-sonnet",
        "model": "anthropic/claude-sonnet-4-5",
        "api_key_env": "ANTHROPIC_API_KEY",
        "max_input_tokens": 128000,
        "timeout": 300,
        "num_retries": 1,
        "fallbacks": ["gpt-4o"],
    },
    {"alias": "gpt-4o", "model": "openai/gpt-4o", "api_key_env": "OPENAI_API_KEY", "max_input_tokens": 128000},
]
PROVIDER_KEYS = {"ANTHROPIC_API_KEY": "sk-ant-must-not-be-in-config", "OPENAI_API_KEY": "sk-openai-not-in-config"}


def test_ollama_routes_and_fallbacks_are_rendered(tmp_path):
    """Ollama's routes (by name and wildcard) as LiteLLM reads them, the models' fallbacks in router_settings, and
    no provider key in the file."""
    config, text = render(
        tmp_path,
        litellm_backends=BACKENDS[:1],
        litellm_extra_models=RUNBOOK_MODELS,
        litellm_default_model="claude-sonnet",
        litellm_env_secrets={"LITELLM_MASTER_KEY": SECRET, **PROVIDER_KEYS},
    )
    assert not [name for name, key in PROVIDER_KEYS.items() if key in text]
    models = by_name(config)
    assert models["hab/*"]["litellm_params"] == {"model": "ollama_chat/*", "api_base": "http://hab:11434"}
    assert models["ollama/llama3"]["model_info"] == {"max_input_tokens": 8192}
    assert models["claude-sonnet"]["litellm_params"] == {
        "model": "anthropic/claude-sonnet-4-5",
        "api_key": "os.environ/ANTHROPIC_API_KEY",
        "timeout": 300,
        "num_retries": 1,
    }
    assert config["router_settings"] == {
        **ROUTER_DEFAULTS,
        "fallbacks": [{"ollama/llama3": ["akira/qwen2.5-7b"]}, {"claude-sonnet": ["gpt-4o"]}, {"default": ["gpt-4o"]}],
    }


def test_bad_models_fail_validation_naming_host_variable_and_entry(tmp_path):
    """The role's validate.yml (what tailnet.llm.deploy_litellm runs before any change) on the further models."""
    literal = "sk-ant-api03-written-into-the-inventory"
    secrets = {"LITELLM_MASTER_KEY": SECRET, **PROVIDER_KEYS}
    base = {"litellm_backends": BACKENDS[:1], "litellm_env_secrets": secrets}
    smaller = json.loads(json.dumps(RUNBOOK_MODELS))
    smaller[2]["max_input_tokens"] = 200000
    checked = helpers.failures(
        "litellm",
        "validate.yml",
        {
            "good": {**base, "litellm_extra_models": RUNBOOK_MODELS},
            "literal-key": {**base, "litellm_extra_models": [{**RUNBOOK_MODELS[3], "api_key": literal}]},
            "key-not-in-vault": {
                **base,
                "litellm_extra_models": RUNBOOK_MODELS,
                "litellm_env_secrets": {"LITELLM_MASTER_KEY": SECRET},
            },
            "smaller-window": {**base, "litellm_extra_models": smaller},
            "wildcard-only": {
                "litellm_backends": [],
                "litellm_env_secrets": secrets,
                "litellm_extra_models": RUNBOOK_MODELS[1:2],
            },
        },
        tmp_path,
    )
    assert checked["good"] is None
    assert checked["literal-key"].startswith(
        "host localhost: litellm_extra_models[0].api_key is a key written into the inventory, which is refused"
    )
    assert literal not in checked["literal-key"]
    assert checked["key-not-in-vault"] == (
        "host localhost: litellm_extra_models[2].api_key_env is 'ANTHROPIC_API_KEY', which litellm_env_secrets does "
        "not hold: map it to its Key Vault secret in azure_keyvault_secrets.litellm (or set it in litellm_env_secrets); "
        "litellm_extra_models[3].api_key_env is 'OPENAI_API_KEY', which litellm_env_secrets does not hold: map it to "
        "its Key Vault secret in azure_keyvault_secrets.litellm (or set it in litellm_env_secrets)"
    )
    assert checked["smaller-window"].startswith(
        "host localhost: litellm_extra_models[2].fallbacks[0]: 'gpt-4o' has a smaller context window (128000 tokens) "
        "than 'claude-sonnet' (200000)"
    )
    assert checked["wildcard-only"] is None


def test_the_probes_of_other_providers_models_only_report(tmp_path):
    """The probes compose_service sends after a change (__litellm_probes): strict for the vLLM models and `default`
    routed to one, lenient for litellm_extra_models unless the entry says strict: true, which config.yaml leaves
    out."""
    extra = [
        {"alias": "claude", "model": "anthropic/claude-sonnet-4-5", "api_key_env": "ANTHROPIC_API_KEY"},
        {"alias": "lmstudio/qwen", "model": "openai/qwen", "api_base": "http://motoko:1234/v1", "strict": True},
    ]
    hostvars = {"litellm_backends": BACKENDS[:1], "litellm_extra_models": extra, "litellm_port": 4123}
    play = {
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars_files": [str(helpers.REPO / f"roles/litellm/{d}/main.yml") for d in ("defaults", "vars")],
        "tasks": [{"name": "Probes", "ansible.builtin.debug": {"var": "__litellm_probes"}, "vars": hostvars}],
    }
    probes = helpers.run_local_plays([play], tmp_path)["Probes"]["__litellm_probes"]
    assert {p["name"]: p["strict"] for p in probes} == {
        "akira/qwen2.5-7b": True,
        "default": True,
        "claude": False,
        "lmstudio/qwen": True,
    }
    assert {p["url"] for p in probes} == {"http://127.0.0.1:4123/v1/chat/completions"}
    config, _text = render(tmp_path, **hostvars)
    assert all("strict" not in str(entry) for entry in config["model_list"])


def test_in_database_mode_the_hook_names_whom_litellm_charges(tmp_path):
    clients = [
        {"name": "motoko", "key_sha256": "a" * 64, "models": [], "rpm_limit": None, "tpm_limit": None},
        {"name": "motoko/alice", "key_sha256": "b" * 64, "models": [], "rpm_limit": None, "tpm_limit": None},
    ]
    teams = [{"name": "research", "members": ["motoko/alice"], "budget": {"max_usd": 20, "period": "1mo"}}]
    cases = {
        f"{name}-{host or 'none'}": (template, {
            "litellm_backends": BACKENDS[:1], "litellm_clients": clients, "llm_teams": teams,
            "litellm_database_host": host, "litellm_env_secrets": {"LITELLM_MASTER_KEY": SECRET},
        })
        for name, template in (("clients", "clients.json.j2"), ("config", "config.yaml.j2"))
        for host in ("", "tessier")
    }  # fmt: skip
    rendered = helpers.render("litellm", cases, tmp_path)
    # ansible-core 2.18's template lookup (helpers.render) hands back JSON text already parsed; 2.19 the text
    parsed = {name: text if isinstance(text, list) else json.loads(text) for name, text in rendered.items()
              if name.startswith("clients-")}  # fmt: skip
    assert parsed["clients-none"] == clients
    assert parsed["clients-tessier"] == [
        {**clients[0], "user_id": "motoko"},
        {**clients[1], "user_id": "motoko", "end_user_id": "motoko/alice", "team_id": "research"},
    ]
    settings = {host: yaml.safe_load(rendered[f"config-{host}"])["general_settings"] for host in ("none", "tessier")}
    assert "apply_user_budget_to_team_keys" not in settings["none"]
    assert settings["tessier"]["apply_user_budget_to_team_keys"] is True


@pytest.mark.parametrize("metrics", [False, True])
def test_metrics_are_served_on_their_own_port(tmp_path, metrics):
    """With litellm_metrics (by default: a monitoring host exists, tests/unit/plugins/filter/test_scrape_targets.py),
    the prometheus callback is on, the proxy writes its samples into PROMETHEUS_MULTIPROC_DIR and LiteLLM's metrics
    server, started first in the same container, serves them on litellm_metrics_port; the proxy keeps its own
    address (every one); /metrics on the gateway's port keeps asking for a key."""
    variables = {
        "litellm_metrics": metrics,
        "litellm_backends": BACKENDS[:1],
        "litellm_env_secrets": {"LITELLM_MASTER_KEY": SECRET},
        "litellm_metrics_port": 4101,
        "compose_service_env": "{{ __litellm_env }}",
        "__compose_service_env_volume": "./.env:/app/.env:ro,z",
        "__compose_service_entrypoint": ["sh", "-c", 'exec "$@"', "sh"],
    }
    env_template = helpers.REPO / "roles" / "compose_service" / "templates" / "env.j2"
    files = helpers.render(
        "litellm",
        {
            "config": ("config.yaml.j2", variables),
            "env": (env_template, variables),
            "compose": ("docker-compose.yml.j2", variables),
        },
        tmp_path,
    )
    settings = yaml.safe_load(files["config"])["litellm_settings"]
    service = yaml.safe_load(files["compose"])["services"]["litellm"]
    assert service["command"][service["command"].index("--host") + 1] == ""
    if metrics:
        assert settings["callbacks"] == ["prometheus"]
        assert settings["require_auth_for_metrics_endpoint"] is True
        assert "PROMETHEUS_MULTIPROC_DIR=/tmp/litellm-prometheus" in files["env"].splitlines()
        launcher = service["entrypoint"][4:]
        assert launcher[:2] == ["sh", "-c"]
        assert launcher[3:] == ["litellm", "0.0.0.0", "4101"]
        assert "litellm.proxy.prometheus_metrics_server" in launcher[2]
        assert launcher[2].endswith('& shift 2 && exec litellm "$@"')
    else:
        assert "callbacks" not in settings
        assert "PROMETHEUS" not in files["env"]
        assert service["entrypoint"][4:] == ["litellm"]
