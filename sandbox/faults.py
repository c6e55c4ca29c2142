"""Fault injection and the request log, driven over the control API.

A rule names a service (a base-URL key such as `wb_analytics` or `ozon`, or `*`), an endpoint
(a glob over the path below the service prefix, `*` for all), a kind, and either a count of next
calls or a fraction of calls. Tests and benchmarks read the request log to count calls and 429s.
"""

from __future__ import annotations

import fnmatch
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Literal

FaultKind = Literal["429", "500", "502", "503", "timeout", "reset", "truncated", "malformed", "401", "delay"]
FAULT_KINDS: tuple[str, ...] = FaultKind.__args__  # type: ignore[attr-defined]


@dataclass
class FaultRule:
    service: str
    endpoint: str
    kind: FaultKind
    count: int | None = None
    fraction: float | None = None
    delay: float = 30.0  # seconds held for `delay` and `timeout`
    # Seconds at real speed an injected 429 asks the client to wait (its retry header), scaled
    # by the sandbox's time scale like every other interval.
    retry_after: float = 2.0
    id: int = 0
    fired: int = 0

    def matches(self, service: str, path: str) -> bool:
        return fnmatch.fnmatchcase(service, self.service) and fnmatch.fnmatchcase(path, self.endpoint)


@dataclass
class FaultInjector:
    rules: list[FaultRule] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    _next_id: int = 1

    def add(self, rule: FaultRule) -> FaultRule:
        if rule.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {rule.kind!r}; one of {', '.join(FAULT_KINDS)}")
        if (rule.count is None) == (rule.fraction is None):
            raise ValueError("a fault needs exactly one of `count` (next N calls) or `fraction`")
        if rule.count is not None and rule.count < 1:
            raise ValueError("`count` must be at least 1")
        if rule.fraction is not None and not 0 < rule.fraction <= 1:
            raise ValueError("`fraction` must be in (0, 1]")
        if rule.retry_after < 0:
            raise ValueError("`retry_after` must not be negative")
        rule.id = self._next_id
        self._next_id += 1
        self.rules.append(rule)
        return rule

    def pick(self, service: str, path: str) -> FaultRule | None:
        for rule in self.rules:
            if not rule.matches(service, path):
                continue
            if rule.count is not None:
                rule.count -= 1
                if rule.count <= 0:
                    self.rules.remove(rule)
            elif self.rng.random() >= (rule.fraction or 0):
                continue
            rule.fired += 1
            return rule
        return None

    def clear(self) -> None:
        self.rules.clear()

    def describe(self) -> list[dict[str, object]]:
        return [{k: v for k, v in asdict(r).items()} for r in self.rules]


@dataclass
class RequestLog:
    entries: list[dict[str, object]] = field(default_factory=list)

    def record(self, service: str, method: str, path: str, status: int, fault: str | None) -> None:
        entry: dict[str, object] = {
            "time": time.time(),
            "service": service,
            "method": method,
            "path": path,
            "status": status,
        }
        if fault:
            entry["fault"] = fault
        self.entries.append(entry)

    def query(self, service: str | None = None, since: float | None = None) -> list[dict[str, object]]:
        return [
            e
            for e in self.entries
            if (service is None or e["service"] == service) and (since is None or e["time"] >= since)  # type: ignore[operator]
        ]

    def clear(self) -> None:
        self.entries.clear()
