"""`stock-tracker demo` (what `make demo` runs) as a new user sees it: one screen of output —
progress per tenant and stage, the summary with the WB mode each seller is served in, the files
written, where Dagster's event log went and what to run next — and no Dagster event lines."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

CLI = str(Path(sys.executable).with_name("stock-tracker"))


def _demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCK_TRACKER_") and k != "DAGSTER_HOME"}
    env.update({"STOCK_TRACKER_HOME": str(tmp_path / "home"), "COLUMNS": "120"})
    return subprocess.run(
        [CLI, "demo", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )


def test_demo_fits_one_screen_and_says_where_everything_is(tmp_path: Path) -> None:
    out_dir = tmp_path / "sheets"
    result = _demo(tmp_path, "--out", str(out_dir))
    assert result.returncode == 0, result.stderr
    lines = (result.stderr + result.stdout).splitlines()
    assert len(lines) <= 40, "\n".join(lines)
    assert not [line for line in lines if " - dagster - " in line or "DEBUG" in line]

    # A bar per tenant and stage, each complete (WB-only seller: 1 ingest step; WB + Ozon: 2; the
    # model with the supply guard, the sheet with the supply plan and its worksheet).
    bars = [line.split() for line in result.stderr.splitlines() if "━" in line]
    assert sorted((b[0], b[1], b[-2]) for b in bars) == sorted(
        (tenant, stage, done)
        for tenant, ingest in (("seller-1-severnyi-len", "1/1"), ("seller-2-urban-fox", "2/2"))
        for stage, done in (("ingest", ingest), ("model", "4/4"), ("sheet", "5/5"), ("telegram", "1/1"))
    )

    # The summary names the WB mode each seller is served in (one aggregated, one detailed).
    summary = {line.split()[1]: line for line in result.stdout.splitlines() if line.startswith("│ seller-")}
    assert "WB (aggregated, as since 2026-08-15)" in summary["seller-1-severnyi-len"]
    assert "WB (detailed) + Ozon" in summary["seller-2-urban-fox"]
    assert all(row.rstrip(" │").endswith("ok") for row in summary.values())

    # Every file listed exists, and they are the DESIGN §3 contract's files.
    listed = [Path(line.strip()) for line in result.stdout.splitlines() if line.startswith("  sheets/")]
    assert sorted(str(p) for p in listed) == sorted(
        str(p.relative_to(tmp_path)) for p in out_dir.glob("*/*") if p.suffix in (".xlsx", ".csv")
    )
    assert {p.name for p in listed} == {"stock.xlsx", "wildberries.csv", "ozon.csv"}
    assert len([p for p in listed if p.name == "stock.xlsx"]) == 2
    assert all((tmp_path / p).stat().st_size > 0 for p in listed)

    # Each seller's linked sandbox chat: every Bot API call it received, in order, and the chart
    # as sent (the report's text, then the chart with its caption, then the alerts that started).
    telegram = [line for line in result.stdout.splitlines() if line.startswith("Telegram (")]
    assert len(telegram) == 2
    for seller in ("seller-1-severnyi-len", "seller-2-urban-fox"):
        folder = out_dir / seller / "telegram"
        assert any(f"sheets/{seller}/telegram/messages.json" in line for line in telegram)
        calls = json.loads((folder / "messages.json").read_text())
        assert [c["method"] for c in calls][:2] == ["sendMessage", "sendPhoto"]
        assert all(c["ok"] for c in calls)
        assert calls[0]["params"]["text"].startswith(f"<b>Отчёт об остатках: {seller}</b>")
        assert calls[0]["params"]["parse_mode"] == "HTML"
        (chart,) = calls[1]["files"]
        assert (folder / chart).read_bytes().startswith(b"\x89PNG")

    # The event log went to a file under the home folder, complete.
    [log_line] = [line for line in result.stdout.splitlines() if line.startswith("Dagster event log:")]
    log = tmp_path / log_line.split(": ", 1)[1]
    assert log.parent == tmp_path / "home" / "logs" and re.fullmatch(r"demo-\d{8}-\d{6}\.log", log.name)
    events = log.read_text()
    assert events.count("RUN_SUCCESS") == 2 and events.count("STEP_SUCCESS") == 23

    # What to run next.
    assert "make dev" in result.stdout and "http://127.0.0.1:3000" in result.stdout
    assert "stock-tracker api" in result.stdout and "http://127.0.0.1:8000/docs" in result.stdout

    # Billing: the Stripe sandbox got the plans (`billing setup`), and how to check out locally.
    [stripe_line] = [line for line in lines if line.startswith("Stripe sandbox at ")]
    assert re.search(r"http://127\.0\.0\.1:\d+/stripe: plans set up", stripe_line), stripe_line
    assert "(starter $9.90, pro $29.90, enterprise $99.90)" in stripe_line
    [checkout] = [line for line in result.stdout.splitlines() if "checkout locally" in line]
    assert "/api/v1/billing/checkout-session" in checkout and "card=4242424242424242" in checkout


def test_demo_with_a_broken_scenario_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"version": 1, "sellers": []}')
    result = _demo(tmp_path, "--scenario", str(broken))
    assert result.returncode == 1
    assert "invalid scenario" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""
