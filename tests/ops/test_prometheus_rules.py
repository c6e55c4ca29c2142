"""The Prometheus config and alert rules as promtool sees them: valid, and every rule has a unit
test (deploy/prometheus/tests) that passes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from tests.ops.tools import tool

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


TOKEN_FILE = "/run/secrets/metrics_token"  # mounted by compose / the k8s secret in production


def promtool(*args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_config_and_rules_are_valid(tmp_path: Path) -> None:
    # promtool checks that the token file exists: a copy of the config reads a token file of the
    # test's own, everything else as shipped.
    shutil.copytree(PROMETHEUS, tmp_path / "prometheus")
    token = tmp_path / "metrics_token"
    token.write_text("test-token\n")
    shipped = (PROMETHEUS / "prometheus.yml").read_text()
    assert TOKEN_FILE in shipped
    (tmp_path / "prometheus" / "prometheus.yml").write_text(shipped.replace(TOKEN_FILE, str(token)))
    config = promtool("check", "config", "prometheus.yml", cwd=tmp_path / "prometheus")
    assert config.returncode == 0, config.stdout + config.stderr
    assert "SUCCESS" in config.stdout + config.stderr
    rules = promtool("check", "rules", *sorted(str(p) for p in (PROMETHEUS / "rules").glob("*.yml")))
    assert rules.returncode == 0, rules.stdout + rules.stderr


def test_every_alert_rule_has_a_passing_unit_test() -> None:
    alerts = {
        rule["alert"]
        for path in (PROMETHEUS / "rules").glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    test_files = sorted((PROMETHEUS / "tests").glob("*.yml"))
    tested = {
        case["alertname"]
        for path in test_files
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        # A rule counts as tested when some case expects it to fire, not only to stay quiet.
        if case.get("exp_alerts")
    }
    assert alerts and alerts <= tested, f"rules without a firing test: {sorted(alerts - tested)}"
    result = promtool("test", "rules", *(str(p) for p in test_files))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
