"""The monitoring role's Prometheus configuration, alert rules and dashboards, checked by Prometheus's own tools:
promtool (Debian's `prometheus` package) and amtool (`prometheus-alertmanager`)."""

import json
import shutil
import subprocess

import helpers
import pytest
import yaml
from ansible_collections.tailnet.llm.plugins.plugin_utils.monitoring import scrape_targets

ROLE = helpers.REPO / "roles" / "monitoring"
RULES = ROLE / "files" / "rules" / "tailnet-llm.rules.yml"
ALERTS_TEST = helpers.REPO / "tests" / "integration" / "monitoring" / "alerts_test.yml"
DEBIAN = yaml.safe_load((ROLE / "vars" / "Debian.yml").read_text())


# `make monitoring-tools` unpacks Debian's packages there, without installing (or starting) their services.
TOOLS = helpers.REPO / "build" / "tools" / "usr" / "bin"


def _tool(name, package):
    path = shutil.which(name, path=str(TOOLS)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: make monitoring-tools (unpacks Debian's {package} into build/tools)")
    return path


@pytest.fixture(scope="module")
def promtool():
    return _tool("promtool", "prometheus")


@pytest.fixture(scope="module")
def amtool():
    return _tool("amtool", "prometheus-alertmanager")


def _run(*command):
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _alerts():
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"] if "alert" in rule]


def test_the_rules_are_valid(promtool):
    assert f"SUCCESS: {len(_alerts())} rules found" in _run(promtool, "check", "rules", str(RULES))


def test_every_alert_fires_where_it_should_and_only_there(promtool, tmp_path):
    """promtool test rules compares annotations too: the cases run on the rules without them (their text is
    checked below), so that a case says what fires, for which labels, and when."""
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    shutil.copy(ALERTS_TEST, tmp_path / "alerts_test.yml")
    assert "SUCCESS" in _run(promtool, "test", "rules", str(tmp_path / "alerts_test.yml"))


def test_every_alert_has_a_firing_and_a_quiet_case():
    cases = [case for test in yaml.safe_load(ALERTS_TEST.read_text())["tests"] for case in test["alert_rule_test"]]
    for alert in _alerts():
        own = [case for case in cases if case["alertname"] == alert["alert"]]
        assert any(case.get("exp_alerts") for case in own), f"{alert['alert']} never fires in {ALERTS_TEST.name}"
        assert any(not case.get("exp_alerts") for case in own), f"{alert['alert']} is never quiet in {ALERTS_TEST.name}"


def test_every_alert_says_what_it_means_and_what_to_do():
    for alert in _alerts():
        annotations = alert.get("annotations") or {}
        assert annotations.get("summary"), alert["alert"]
        assert len(annotations.get("description", "")) > 80, alert["alert"]
        assert "{{ $labels.host }}" in annotations["description"], alert["alert"]


def test_the_rendered_configuration_is_valid_for_the_labs_inventory(promtool, amtool, tmp_path):
    groups, hostvars = helpers.lab_inventory()
    groups = {**groups, "llm_monitoring_hosts": ["molly"]}
    hostvars = {**hostvars, "molly": {}}
    targets = scrape_targets(groups, hostvars)
    assert set(targets) == {"litellm", "vllm", "node", "redis", "postgresql"}
    shutil.copy(RULES, tmp_path / "rules.yml")
    variables = {
        **DEBIAN,
        "monitoring_scrape_targets": targets,
        "__monitoring_rules_file": str(tmp_path / "rules.yml"),
        "monitoring_alertmanager_receivers": [{"name": "ops", "webhook_configs": [{"url": "http://127.0.0.1:5001/"}]}],
    }
    files = helpers.render(
        "monitoring",
        {"prometheus": ("prometheus.yml.j2", variables), "alertmanager": ("alertmanager.yml.j2", variables)},
        tmp_path,
    )
    (tmp_path / "prometheus.yml").write_text(files["prometheus"])
    (tmp_path / "alertmanager.yml").write_text(files["alertmanager"])
    _run(promtool, "check", "config", str(tmp_path / "prometheus.yml"))
    _run(amtool, "check-config", str(tmp_path / "alertmanager.yml"))


@pytest.mark.parametrize("dashboard", sorted(p.name for p in (ROLE / "files" / "dashboards").glob("*.json")))
def test_every_panels_query_is_valid_promql(promtool, tmp_path, dashboard):
    """Each panel's query, as a recording rule, through promtool's PromQL parser."""
    panels = json.loads((ROLE / "files" / "dashboards" / dashboard).read_text())["panels"]
    exprs = [target["expr"] for panel in panels for target in panel["targets"]]
    assert exprs
    rules = {
        "groups": [{"name": "panels", "rules": [{"record": f"panel:{i}", "expr": e} for i, e in enumerate(exprs)]}]
    }
    (tmp_path / "panels.yml").write_text(yaml.safe_dump(rules))
    _run(promtool, "check", "rules", str(tmp_path / "panels.yml"))
