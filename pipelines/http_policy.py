"""The one HTTP policy of both marketplace sources: timeouts, pacing, retries, a retry budget.

* Pacing: a token bucket per (seller account, method group) with the documented numbers, so a
  normal sync draws no 429. `limits` (the project's limiter elsewhere) counts whole seconds, and
  time-scaled tests need sub-second intervals, hence this small bucket.
* Retries (tenacity, as dlt's own helper uses): 429, 5xx, timeouts, resets and unreadable bodies,
  with exponential backoff and jitter, waiting at least what the server asks for (WB
  `X-Ratelimit-Retry`, Ozon `Retry-After`). Bounded per request and per sync.
* Errors name the endpoint and the reason and never carry a key.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
PACING_MARGIN = 1.02
PACING_SLACK_SECONDS = 0.02


@dataclass(frozen=True)
class MethodGroup:
    """A documented limit: one request every `interval` seconds, `burst` saved up."""

    name: str
    interval: float
    burst: int


class MarketplaceError(RuntimeError):
    """A marketplace call failed for good; the message says which endpoint and why."""

    def __init__(self, endpoint: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"{endpoint}: {reason}")
        self.endpoint, self.reason, self.status = endpoint, reason, status


class MarketplaceAuthError(MarketplaceError):
    """The key was refused (401/403): retrying cannot help."""


class _Transient(Exception):
    """A failure worth another try; carries the server's requested wait, if any."""

    def __init__(self, reason: str, wait: float | None = None, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.wait, self.status = reason, wait, status


class Pacer:
    """Token buckets shared by every client of this process, keyed by seller account."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    def acquire(self, account: str, group: MethodGroup, time_scale: float) -> float:
        """Wait until the group's bucket has a token; return the seconds waited."""
        # A little slower than documented: the server starts its clock when our first request
        # arrives, and arrival gaps jitter by milliseconds.
        interval = group.interval / time_scale * PACING_MARGIN + PACING_SLACK_SECONDS
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                tokens, stamp = self._buckets.get((account, group.name), (float(group.burst), now))
                tokens = min(float(group.burst), tokens + (now - stamp) / interval)
                if tokens >= 1.0:
                    self._buckets[(account, group.name)] = (tokens - 1.0, now)
                    return waited
                self._buckets[(account, group.name)] = (tokens, now)
                pause = (1.0 - tokens) * interval
            time.sleep(pause)
            waited += pause

    def answered(self, account: str, group: MethodGroup, time_scale: float, sent_at: float) -> None:
        """A one-at-a-time group's interval counts from the answer, not from the send.

        The server books a request when it arrives, somewhere between our send and its answer; a
        busy process (dlt's extract threads, a sandbox sharing the GIL) can delay one arrival and
        not the next, so two arrivals land closer than the sends were. Counting from the answer is
        the one order the server cannot see reversed: it costs one round trip per request, noise
        beside a 20 s or 60 s limit. Groups with a burst keep that much slack and are left alone.
        """
        if group.burst != 1:
            return
        interval = group.interval / time_scale * PACING_MARGIN + PACING_SLACK_SECONDS
        with self._lock:
            now = time.monotonic()
            tokens, stamp = self._buckets.get((account, group.name), (0.0, sent_at))
            tokens = min(1.0, tokens + (now - stamp) / interval)
            # Take back what refilled while the request was in flight.
            self._buckets[(account, group.name)] = (tokens - min(1.0, (now - sent_at) / interval), now)

    def penalize(self, account: str, group: MethodGroup, tokens: float) -> None:
        """Book extra cost the server charged (WB counts a marketplace 4xx as 10 requests)."""
        with self._lock:
            current, stamp = self._buckets.get((account, group.name), (float(group.burst), time.monotonic()))
            self._buckets[(account, group.name)] = (current - tokens, stamp)


PACER = Pacer()


class CallLog:
    """What one sync asked of a marketplace, per endpoint family (the limit group): requests,
    429s, 5xx answers and retries. The ingest step writes it to the app database when the load
    ends (warehouse/telemetry.py), since the run's process does not outlive the run.

    dlt may extract resources in threads, hence the lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = {}

    def _add(self, family: str, field: str) -> None:
        with self._lock:
            tally = self._counts.setdefault(
                family, {"requests": 0, "throttled": 0, "server_errors": 0, "retries": 0}
            )
            tally[field] += 1

    def answered(self, family: str, status: int | None) -> None:
        """One request went out; `status` None when no answer came (timeout, reset)."""
        self._add(family, "requests")
        if status == 429:
            self._add(family, "throttled")
        elif status is not None and status >= 500:
            self._add(family, "server_errors")

    def retried(self, family: str) -> None:
        self._add(family, "retries")

    def by_family(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {family: dict(tally) for family, tally in self._counts.items()}


@dataclass
class HttpPolicy:
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    max_attempts: int = 6
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    # Retries one sync may spend in all; past it the sync fails instead of hammering the API.
    retry_budget: int = 60
    # The sandbox runs limits N× faster in tests; pacing and waits follow.
    time_scale: float = 1.0
    # Where this sync's calls are tallied for operators (None: not counted).
    calls: CallLog | None = None


@dataclass
class ApiClient:
    """One seller's session against one marketplace."""

    marketplace: str
    account: str  # a non-secret id of the seller account (e.g. a key fingerprint)
    headers: Mapping[str, str]
    policy: HttpPolicy = field(default_factory=HttpPolicy)
    penalized_4xx: frozenset[str] = frozenset()  # group names where a 4xx costs 10 requests
    retries_used: int = 0
    requests_sent: int = 0

    def __post_init__(self) -> None:
        self.session = requests.Session()
        self.session.headers.update(self.headers)

    def call(
        self,
        method: str,
        url: str,
        group: MethodGroup,
        *,
        endpoint: str,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        empty_statuses: frozenset[int] = frozenset({204}),
        allow_statuses: frozenset[int] = frozenset(),
        parse: Callable[[bytes], Any] = json.loads,
    ) -> tuple[int, Any]:
        """Send one logical request; return (status, parsed JSON or None for an empty answer).

        `empty_statuses` are the answers the API documents as "no data"; `allow_statuses` are
        refusals the caller handles itself (e.g. a 403 that triggers a documented fallback).
        `parse` reads a successful body (e.g. straight into Arrow); a ValueError from it is an
        unreadable body, retried like a truncated one.
        """
        scale = self.policy.time_scale

        def wait(state: RetryCallState) -> float:
            backoff = wait_exponential_jitter(
                multiplier=self.policy.backoff_initial / scale, max=self.policy.backoff_max / scale
            )(state)
            exc = state.outcome.exception() if state.outcome else None
            asked = exc.wait if isinstance(exc, _Transient) and exc.wait is not None else 0.0
            return max(asked, backoff if asked == 0.0 else asked)

        def before_retry(state: RetryCallState) -> None:
            self.retries_used += 1
            if self.policy.calls is not None:
                self.policy.calls.retried(group.name)
            if self.retries_used > self.policy.retry_budget:
                exc = state.outcome.exception() if state.outcome else None
                reason = exc.reason if isinstance(exc, _Transient) else "retry budget spent"
                raise MarketplaceError(endpoint, f"retry budget of this sync spent; last failure: {reason}")

        retrying = Retrying(
            stop=stop_after_attempt(self.policy.max_attempts),
            wait=wait,
            retry=retry_if_exception_type(_Transient),
            before_sleep=before_retry,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._once(
                        method, url, group, endpoint, json_body, params, empty_statuses, allow_statuses, parse
                    )
        except _Transient as exc:
            raise MarketplaceError(
                endpoint, f"gave up after {self.policy.max_attempts} attempts: {exc.reason}", exc.status
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(
        self,
        method: str,
        url: str,
        group: MethodGroup,
        endpoint: str,
        json_body: Any,
        params: Mapping[str, Any] | None,
        empty_statuses: frozenset[int],
        allow_statuses: frozenset[int],
        parse: Callable[[bytes], Any],
    ) -> tuple[int, Any]:
        PACER.acquire(self.account, group, self.policy.time_scale)
        sent_at = time.monotonic()
        self.requests_sent += 1
        try:
            response = self.session.request(
                method,
                url,
                json=json_body,
                params=params,
                timeout=(self.policy.connect_timeout, self.policy.read_timeout),
            )
            body = response.content  # a broken connection mid-body surfaces here
        except requests.Timeout:
            self._tally(group, None)
            raise _Transient("timed out") from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            self._tally(group, None)
            raise _Transient(f"connection failed ({type(exc).__name__})") from None
        finally:
            PACER.answered(self.account, group, self.policy.time_scale, sent_at)
        status = response.status_code
        self._tally(group, status)
        if status in RETRYABLE_STATUS:
            raise _Transient(f"HTTP {status}", self._asked_wait(response), status)
        if 400 <= status < 500 and group.name in self.penalized_4xx:
            PACER.penalize(self.account, group, 9)
        if status in allow_statuses:
            return status, _parse_or_none(body)
        if status in (401, 403):
            raise MarketplaceAuthError(endpoint, f"HTTP {status}: {_reason(body)}", status)
        if status in empty_statuses:
            return status, None
        if status >= 400:
            raise MarketplaceError(endpoint, f"HTTP {status}: {_reason(body)}", status)
        try:
            return status, parse(body) if body else None
        except ValueError:
            raise _Transient("unreadable response body") from None

    def _tally(self, group: MethodGroup, status: int | None) -> None:
        if self.policy.calls is not None:
            self.policy.calls.answered(group.name, status)

    def _asked_wait(self, response: requests.Response) -> float | None:
        for header in ("X-Ratelimit-Retry", "Retry-After"):
            raw = response.headers.get(header)
            if raw:
                try:
                    # At real speed the header is whole seconds; the time-scaled sandbox sends
                    # already-scaled decimals.
                    return float(raw)
                except ValueError:
                    return None
        return None


def _parse_or_none(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _reason(body: bytes) -> str:
    """The marketplace's own words from an error body, whatever family it is."""
    parsed = _parse_or_none(body)
    if isinstance(parsed, dict):
        for key in ("detail", "message", "errorText", "errors", "title"):
            value = parsed.get(key)
            if value:
                return value if isinstance(value, str) else "; ".join(map(str, value))
    if isinstance(parsed, list) and parsed and isinstance(parsed[0], dict):
        return str(parsed[0].get("message") or parsed[0].get("code"))
    text = body.decode("utf-8", "replace").strip()
    return text[:200] or "no details"
