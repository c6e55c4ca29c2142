"""Benchmark: a big one-seller scenario through generate → JSON → parse → sandbox state → WB report.

    .venv/bin/python bench/bench_scenario.py [--skus 50000] [--warehouses 60]

Memory is the growth of the process's peak RSS (`resource.getrusage(RUSAGE_SELF).ru_maxrss`)
during each step, plus the RSS held after it (from /proc/self/statm): a step that stays under an
earlier peak shows +0 peak. tracemalloc is not used: it would slow the steps several-fold.
Steps that depend on sandbox code still being written report "unavailable (<error>)".
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from sandbox.generate import generate_scenario
from sandbox.scenario import parse_scenario

WB_REPORT = "/api/analytics/v1/stocks-report/wb-warehouses"
PAGE_LIMIT = 250_000  # the endpoint's default and maximum page


@dataclass
class Result:
    step: str
    seconds: float | None = None
    peak_mb: float | None = None
    rss_mb: float | None = None
    note: str = ""


def _peak_mb() -> float:
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def _rss_mb() -> float | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return None


def measure(step: str, work: Callable[[], tuple[Any, str]]) -> tuple[Any, Result]:
    """Run `work` (returning (value, note)); on failure record why instead of stopping the run."""
    peak_before = _peak_mb()
    started = time.perf_counter()
    try:
        value, note = work()
    except Exception as exc:  # teammates' code may be mid-edit: report, don't crash
        last = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{os.path.basename(last.filename)}:{last.lineno}"
        return None, Result(step, note=f"unavailable ({type(exc).__name__}: {exc} at {where})")
    seconds = time.perf_counter() - started
    return value, Result(step, seconds, _peak_mb() - peak_before, _rss_mb(), note)


def fetch_wb_report(scenario: dict[str, Any]) -> tuple[int, str]:
    import requests

    from sandbox.server import SandboxServer

    token = scenario["sellers"][0]["credentials"]["token"]
    server_started = time.perf_counter()
    server = SandboxServer(scenario, time_scale=1000).start()  # loads the scenario into its own state
    setup = time.perf_counter() - server_started
    try:
        url = server.urls["wb_analytics"] + WB_REPORT
        items, pages, body_bytes, offset = 0, 0, 0, 0
        request_started = time.perf_counter()
        while True:
            body: dict[str, int] = {} if offset == 0 else {"offset": offset}
            answer = requests.post(url, json=body, headers={"Authorization": token}, timeout=600)
            if answer.status_code == 429:  # 3 req/min, but scaled ×1000: a short wait suffices
                time.sleep(0.05)
                continue
            if answer.status_code == 204:
                break
            answer.raise_for_status()
            page = orjson.loads(answer.content)["data"]["items"]
            items, pages, body_bytes = items + len(page), pages + 1, body_bytes + len(answer.content)
            if len(page) < PAGE_LIMIT:
                break
            offset += len(page)
        served = time.perf_counter() - request_started
    finally:
        stop_started = time.perf_counter()
        server.stop()
        stopped = time.perf_counter() - stop_started
    note = (
        f"{items:,} items in {pages} page(s), {body_bytes / 2**20:.1f} MB JSON; "
        f"server start+load {setup:.2f} s, request(s) {served:.2f} s, stop {stopped:.2f} s"
    )
    return items, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=50_000)
    parser.add_argument("--warehouses", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"one WB seller, {args.skus:,} SKUs × {args.warehouses} warehouses (seed {args.seed})")
    print("memory: Δ peak = growth of ru_maxrss during the step; RSS = resident after it (/proc)")

    results: list[Result] = []

    def generate() -> tuple[dict[str, Any], str]:
        scenario = generate_scenario(sellers=1, skus=args.skus, warehouses=args.warehouses, seed=args.seed)
        seller = scenario["sellers"][0]
        sizes = sum(len(p["sizes"]) for p in seller["products"])
        note = f"{sizes:,} sizes, {len(seller['stocks']):,} stock rows, {len(seller['orders']):,} orders"
        return scenario, note

    scenario, result = measure("generate_scenario", generate)
    results.append(result)
    if scenario is not None:

        def serialize_and_parse() -> tuple[Any, str]:
            raw = orjson.dumps(scenario)
            parse_scenario(raw)
            return None, f"{len(raw) / 2**20:.1f} MB JSON"

        results.append(measure("orjson.dumps + parse_scenario", serialize_and_parse)[1])

        def state_load() -> tuple[Any, str]:
            from sandbox.state import SandboxState

            state = SandboxState()
            state.load(scenario)  # type: ignore[arg-type]
            return None, f"{len(state.wb_accounts)} WB account(s)"

        results.append(measure("SandboxState().load", state_load)[1])
        results.append(measure("serve wb-warehouses report", lambda: fetch_wb_report(scenario))[1])

    print(f"\n{'step':<32} {'time, s':>8} {'Δ peak, MB':>11} {'RSS, MB':>8}  note")
    for r in results:
        if r.seconds is None:
            print(f"{r.step:<32} {'-':>8} {'-':>11} {'-':>8}  {r.note}")
        else:
            rss = f"{r.rss_mb:.0f}" if r.rss_mb is not None else "?"
            print(f"{r.step:<32} {r.seconds:>8.2f} {r.peak_mb:>11.0f} {rss:>8}  {r.note}")
    print(f"\nprocess peak RSS: {_peak_mb():.0f} MB")


if __name__ == "__main__":
    main()
