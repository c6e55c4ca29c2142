"""The deployment as shipped: the image, docker compose, the Kubernetes manifests and the Dagster
Helm values are valid against their published schemas and keep the operator's rules (non-root,
health checks, secrets only from outside, the Dagster UI on localhost).

Validators: compose — the compose-spec JSON schema vendored by check-jsonschema (`docker compose
config` needs the compose plugin, which Debian's docker packages do not ship with the CLI);
manifests — kubernetes-validate (strict, its bundled Kubernetes schemas); Helm values — the
official chart's values.schema.json (deploy/helm/dagster-chart/).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
HEALTH = ("/api/v1/health/live", "/api/v1/health/ready")


def _check_jsonschema(*args: str) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).with_name("check-jsonschema")
    return subprocess.run([str(executable), *args], capture_output=True, text=True, timeout=120)


# --- image -----------------------------------------------------------------------------------


def test_image_is_multi_stage_non_root_with_a_healthcheck_and_no_secrets() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\w+)", dockerfile, flags=re.MULTILINE | re.IGNORECASE)
    assert len(stages) >= 2, "build and runtime stages"
    final = dockerfile.split(f"AS {stages[-1]}", 1)[1]
    users = re.findall(r"^USER\s+(\S+)", final, flags=re.MULTILINE)
    assert users and not users[-1].startswith(("root", "0")), "the runtime stage runs as a user"
    assert re.search(r"^HEALTHCHECK\s", final, flags=re.MULTILINE)
    assert "uv sync --frozen" in dockerfile  # installs exactly the lock file
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    assert {".env", ".stock-tracker/", ".git/", ".venv/"} <= ignored


# --- docker compose --------------------------------------------------------------------------


def test_compose_is_valid_against_the_compose_spec() -> None:
    result = _check_jsonschema("--builtin-schema", "vendor.compose-spec", str(DEPLOY / "docker-compose.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def test_compose_services_are_healthchecked_and_start_in_order() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services: dict[str, Any] = compose["services"]
    for wanted in ("postgres", "redis", "code", "webserver", "daemon", "api", "bot"):
        assert wanted in services, wanted
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert condition == {"condition": "service_healthy"}, f"{name} → {dependency}"
    assert services["redis"]["volumes"], "Redis keeps its data in a volume"
    # The Dagster UI has no login: only this machine reaches it unless the operator opts in.
    for binding in services["webserver"]["ports"]:
        assert binding.startswith("127.0.0.1:"), binding


def test_compose_holds_no_secret_and_env_example_lists_what_it_needs() -> None:
    text = (DEPLOY / "docker-compose.yml").read_text()
    assert not re.search(r"://[^:/\s]+:[^@\s$]+@", text), "a password inside a URL"
    compose = yaml.safe_load(text)
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"(?i)password|secret|token|key", key):
                assert str(value).startswith("${"), f"{name}: {key} is written in the file"
    example = (REPO / ".env.example").read_text()
    declared = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    assert required <= declared, f"missing from .env.example: {sorted(required - declared)}"
    for variable in (
        "STOCK_TRACKER_APP_DATABASE_URL",
        "STOCK_TRACKER_ENCRYPTION_KEYS",
        "STOCK_TRACKER_JWT_SECRET",
    ):
        assert variable in declared


# --- Kubernetes ------------------------------------------------------------------------------


def _manifests() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.name, doc)
        for path in sorted((DEPLOY / "k8s").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def test_manifests_are_valid_kubernetes_objects() -> None:
    manifests = _manifests()
    assert {doc["kind"] for _, doc in manifests} >= {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "ConfigMap",
        "Secret",
    }
    version = kubernetes_validate.latest_version()
    for name, doc in manifests:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name} {doc['kind']}/{doc['metadata']['name']}: {exc.message}")


def test_api_deployment_has_probes_resources_and_secrets_from_a_secret() -> None:
    api = next(
        d for _, d in _manifests() if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-api")
    )
    container = api["spec"]["template"]["spec"]["containers"][0]
    probes = {container[p]["httpGet"]["path"] for p in ("readinessProbe", "livenessProbe")}
    assert probes == set(HEALTH)
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert {"secretRef": {"name": "stock-tracker-secrets"}} in container["envFrom"]
    assert api["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    hpa = next(d for _, d in _manifests() if d["kind"] == "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == api["metadata"]["name"]


# --- Dagster Helm chart values ---------------------------------------------------------------


def _without_required(node: Any) -> Any:
    """Helm validates the chart's defaults merged with ours; our file holds only overrides, so the
    chart's `required` lists (met by its defaults) are left out. Everything else stays."""
    if isinstance(node, dict):
        return {k: _without_required(v) for k, v in node.items() if k != "required"}
    if isinstance(node, list):
        return [_without_required(v) for v in node]
    return node


def _kubernetes_definitions() -> Resource:
    """The Kubernetes definitions the chart's schema points to on kubernetesjsonschema.dev, from
    the copy kubernetes-validate ships (the tests run without network)."""
    root = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    path = root / f"v{kubernetes_validate.latest_version()}-local" / "_definitions.json"
    contents = json.loads(path.read_text())
    # Today's files keep the definitions under `$defs` (draft 2020-12) and name themselves
    # kubernetes.io; the chart points into `definitions` at kubernetesjsonschema.dev.
    contents.pop("$id", None)
    contents["definitions"] = contents["$defs"]
    return Resource.from_contents(contents, default_specification=DRAFT202012)


def helm_validator() -> jsonschema.Draft7Validator:
    schema = json.loads((DEPLOY / "helm" / "dagster-chart" / "values.schema.json").read_text())
    assert schema["title"] == "DagsterHelmValues"
    definitions = _kubernetes_definitions()
    refs = set(re.findall(r'"\$ref": "(https://kubernetesjsonschema\.dev/[^"#]+)', json.dumps(schema)))
    registry: Registry = Registry().with_resources((url, definitions) for url in refs)
    return jsonschema.Draft7Validator(_without_required(schema), registry=registry)


def test_dagster_values_match_the_official_chart_schema() -> None:
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    errors = sorted(helm_validator().iter_errors(values), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["type"] == "QueuedRunCoordinator"
    limits = coordinator["config"]["queuedRunCoordinator"]["tagConcurrencyLimits"]
    assert {"key": "tenant", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits
    assert values["postgresql"]["enabled"] is False and values["global"]["postgresqlSecretName"]
    assert "postgresqlPassword" not in values["postgresql"]


def test_the_schema_check_catches_a_wrong_value() -> None:
    """The validator is not vacuous: a misspelt launcher and a string where a number goes fail."""
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    values["runLauncher"]["type"] = "K8sLauncher"
    values["dagsterWebserver"]["replicaCount"] = "one"
    # A Kubernetes type from the referenced definitions: requests must be a map of quantities.
    values["dagsterWebserver"]["resources"] = {"requests": "lots"}
    paths = {".".join(map(str, e.absolute_path)) for e in helm_validator().iter_errors(values)}
    assert {
        "runLauncher.type",
        "dagsterWebserver.replicaCount",
        "dagsterWebserver.resources.requests",
    } <= paths


# --- Prometheus ------------------------------------------------------------------------------


def test_prometheus_scrapes_the_api_with_the_production_metrics_token() -> None:
    """In production /metrics answers only `Bearer <STOCK_TRACKER_METRICS_TOKEN>`: the shipped scrape
    job sends it from a file, and compose mounts that file from the same .env value the API reads."""
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in prometheus["scrape_configs"] if j["job_name"] == "stock-tracker-api")
    assert job["authorization"]["type"] == "Bearer"
    token_file = job["authorization"]["credentials_file"]
    assert "credentials" not in job["authorization"], "the token itself never sits in the config"
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert "metrics_token" in compose["services"]["prometheus"]["secrets"]
    assert token_file == "/run/secrets/metrics_token"  # where compose mounts a service's secret
    assert compose["secrets"]["metrics_token"] == {"environment": "STOCK_TRACKER_METRICS_TOKEN"}
    # The API reads the same variable from .env (env_file), and production mode is on.
    assert compose["services"]["api"]["environment"]["STOCK_TRACKER_ENVIRONMENT"] == "production"
    assert "../.env" in compose["services"]["api"]["env_file"]
    assert re.search(r"^STOCK_TRACKER_METRICS_TOKEN=", (REPO / ".env.example").read_text(), re.MULTILINE)
    secrets = yaml.safe_load_all((DEPLOY / "k8s" / "secrets.example.yaml").read_text())
    assert any("STOCK_TRACKER_METRICS_TOKEN" in (doc or {}).get("stringData", {}) for doc in secrets)


def test_compose_runs_start_in_the_daemon_with_the_code_servers_image_and_launcher() -> None:
    """deploy/dagster.yaml's launcher forks each run in the daemon's container: it has the code
    server's image, code and environment, and the launcher is the embedded instance's one."""
    from dagster._serdes import ConfigurableClassData

    from assets.launcher import PreloadedRunLauncher

    services = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]
    daemon, code = services["daemon"], services["code"]
    for key in ("image", "build", "environment", "env_file", "volumes"):
        assert daemon.get(key) == code.get(key), key
    launcher = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())["run_launcher"]
    assert launcher == yaml.safe_load((REPO / "dagster.yaml").read_text())["run_launcher"]
    config = yaml.safe_dump(launcher.get("config", {}))
    data = ConfigurableClassData(launcher["module"], launcher["class"], config)
    assert isinstance(data.rehydrate(PreloadedRunLauncher), PreloadedRunLauncher)
