"""The Dagster webserver's GraphQL API, as the API uses it: launch a tenant's sync, read a run.

A sync is a run of the `tenant_sync` job for the tenant × tier partition, with the same asset
selection and tags as the CLI's runs (assets/jobs.py), so the operator sees API-launched runs in
the Dagster UI next to scheduled ones. The tenant's dynamic partition key is added first (the
sensor does it too, but a seller who just connected a key should not wait for the sensor).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

ACTIVE_STATUSES = ("QUEUED", "NOT_STARTED", "MANAGED", "STARTING", "STARTED", "CANCELING")
# Dagster's run status → ours (warehouse/models.py SYNC_STATUSES).
STATUS = {
    "QUEUED": "queued",
    "NOT_STARTED": "queued",
    "MANAGED": "queued",
    "STARTING": "queued",
    "STARTED": "running",
    "CANCELING": "running",
    "SUCCESS": "success",
    "FAILURE": "failed",
    "CANCELED": "failed",
}

_REPOSITORIES = """
query { repositoriesOrError {
  __typename
  ... on RepositoryConnection { nodes { name location { name } jobs { name } } }
  ... on PythonError { message }
} }"""
_ADD_PARTITION = """
mutation($partitionsDefName: String!, $partitionKey: String!, $repositorySelector: RepositorySelector!) {
  addDynamicPartition(partitionsDefName: $partitionsDefName, partitionKey: $partitionKey,
                      repositorySelector: $repositorySelector) {
    __typename
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}"""
_LAUNCH = """
mutation($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on Error { message }
  }
}"""
_ACTIVE_RUNS = """
query($filter: RunsFilter!) {
  runsOrError(filter: $filter, limit: 1) {
    __typename
    ... on Runs { results { runId status } }
    ... on PythonError { message }
  }
}"""
_RUN = """
query($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run {
      runId status startTime endTime
      eventConnection(limit: 2000) {
        events {
          __typename
          ... on ExecutionStepFailureEvent {
            stepKey message error { message } failureMetadata { description }
          }
          ... on RunFailureEvent { message }
        }
      }
    }
    ... on PythonError { message }
  }
}"""


class DagsterUnavailable(RuntimeError):
    """The webserver did not answer, or answered with an error (its message is for the log only)."""


@dataclass(frozen=True)
class RunState:
    run_id: str
    status: str  # ours: queued, running, success, failed
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None


class DagsterClient:
    # Launching a run makes the webserver ask its code server for the job: on a loaded machine that
    # took over 10 s, which turned a healthy Dagster into a 503 for the seller.
    def __init__(self, graphql_url: str, timeout: float = 30.0) -> None:
        self.url = graphql_url
        self._http = httpx.Client(timeout=httpx.Timeout(timeout, connect=3.0))
        self._repository: dict[str, str] | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def version(self) -> str:
        return str(self._query("query { version }")["version"])

    def active_run(self, tenant_id: str) -> str | None:
        """A queued or running run of the tenant, from any trigger (schedule, CLI, API)."""
        found = self._query(
            _ACTIVE_RUNS,
            {"filter": {"tags": [{"key": "tenant", "value": tenant_id}], "statuses": list(ACTIVE_STATUSES)}},
        )["runsOrError"]
        if found["__typename"] != "Runs":
            raise DagsterUnavailable(f"runsOrError: {found.get('message', found['__typename'])}")
        return found["results"][0]["runId"] if found["results"] else None

    def launch_sync(self, tenant_id: str, tier: str, marketplaces: list[str], trigger: str = "api") -> str:
        """Launch the tenant's sync of its current tier partition; returns the Dagster run id."""
        # Imported here: the job definitions pull in Dagster and the dlt sources, which the API
        # needs only when it launches a run.
        from assets.jobs import SYNC_JOB, sync_selection, sync_tags
        from assets.partitions import partition_key, tenant_partitions

        repository = self._sync_repository(SYNC_JOB)
        added = self._query(
            _ADD_PARTITION,
            {
                "partitionsDefName": tenant_partitions.name,
                "partitionKey": tenant_id,
                "repositorySelector": repository,
            },
        )["addDynamicPartition"]
        if added["__typename"] not in ("AddDynamicPartitionSuccess", "DuplicateDynamicPartitionError"):
            raise DagsterUnavailable(f"addDynamicPartition: {added.get('message', added['__typename'])}")
        key = partition_key(tenant_id, tier)
        tags = {
            **sync_tags(tenant_id, tier, trigger),
            "dagster/partition": str(key),
            **{f"dagster/partition/{dim}": value for dim, value in key.keys_by_dimension.items()},
        }
        params = {
            "selector": {
                **repository,
                "jobName": SYNC_JOB,
                "assetSelection": [{"path": k.path} for k in sync_selection(marketplaces)],
            },
            "runConfigData": {},
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
        }
        launched = self._query(_LAUNCH, {"executionParams": params})["launchRun"]
        if launched["__typename"] != "LaunchRunSuccess":
            raise DagsterUnavailable(f"launchRun: {launched['__typename']}: {launched.get('message', '')}")
        return str(launched["run"]["runId"])

    def run(self, run_id: str) -> RunState | None:
        """The run's state, or None when Dagster has no such run."""
        found = self._query(_RUN, {"runId": run_id})["runOrError"]
        if found["__typename"] == "RunNotFoundError":
            return None
        if found["__typename"] != "Run":
            raise DagsterUnavailable(f"runOrError: {found.get('message', found['__typename'])}")
        status = STATUS.get(found["status"], "running")
        error = None
        if status == "failed":
            error = _failure(found) or f"the Dagster run ended {found['status'].lower()}"
        return RunState(run_id, status, _time(found.get("startTime")), _time(found.get("endTime")), error)

    # --- plumbing -----------------------------------------------------------------------------

    def _sync_repository(self, job: str) -> dict[str, str]:
        with self._lock:
            if self._repository is None:
                found = self._query(_REPOSITORIES)["repositoriesOrError"]
                if found["__typename"] != "RepositoryConnection":
                    raise DagsterUnavailable(f"repositoriesOrError: {found.get('message', '')}")
                for repo in found["nodes"]:
                    if any(j["name"] == job for j in repo["jobs"]):
                        self._repository = {
                            "repositoryName": repo["name"],
                            "repositoryLocationName": repo["location"]["name"],
                        }
                        break
                else:
                    raise DagsterUnavailable(f"no code location of the webserver has the job {job}")
            return self._repository

    def _query(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = self._http.post(self.url, json={"query": query, "variables": variables or {}})
        except httpx.HTTPError as exc:
            raise DagsterUnavailable(f"{self.url}: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise DagsterUnavailable(f"{self.url}: HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise DagsterUnavailable(f"{self.url}: not a GraphQL answer") from None
        if body.get("errors") or not isinstance(body.get("data"), dict):
            first = (body.get("errors") or [{}])[0].get("message", "no data")
            raise DagsterUnavailable(f"{self.url}: {first}")
        return body["data"]


def _failure(run: dict[str, Any]) -> str | None:
    events = (run.get("eventConnection") or {}).get("events") or []
    reasons: list[str] = []
    for event in events:
        if event.get("__typename") != "ExecutionStepFailureEvent":
            continue
        reason = (event.get("failureMetadata") or {}).get("description") or (event.get("error") or {}).get(
            "message"
        )
        if reason and reason.strip() not in reasons:
            reasons.append(reason.strip())
    if not reasons:
        reasons = [
            e["message"] for e in events if e.get("__typename") == "RunFailureEvent" and e.get("message")
        ]
    return "; ".join(reasons) or None


def _time(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None
