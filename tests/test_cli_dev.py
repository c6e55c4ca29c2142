"""`stock-tracker dev` as an operator runs it: the Dagster UI and the REST API answer over HTTP,
the Telegram bot answers a seller in the sandbox, and SIGTERM stops it and every process it started
(sandbox, `dagster dev` with its webserver, daemon and code servers, the API, the bot) within
seconds."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from sandbox.telegram.control import TelegramControl

CLI = str(Path(sys.executable).with_name("stock-tracker"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _family(root: int) -> set[int]:
    """Every descendant of `root`, read from /proc (independently of the code under test)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie (a container's PID 1 may never reap the orphans it inherits)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False


def test_dev_serves_ui_and_api_and_sigterm_stops_every_process(tmp_path: Path) -> None:
    ui_port, api_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOCK_TRACKER_") and k != "DAGSTER_HOME"}
    env.update({"STOCK_TRACKER_HOME": str(tmp_path / "home"), "STOCK_TRACKER_SANDBOX_PORT": "0"})
    process = subprocess.Popen(
        [CLI, "dev", "--port", str(ui_port), "--api-port", str(api_port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    family: set[int] = set()
    printed: list[str] = []
    try:
        assert process.stdout is not None
        while not printed or "Ctrl-C" not in printed[-1]:  # the lines an operator reads first
            line = process.stdout.readline()
            assert line, f"dev stopped early:\n{process.communicate()[1]}"
            printed.append(line)
        bot_line = next(line for line in printed if line.startswith("Telegram bot:"))
        control = TelegramControl(bot_line.split("POST ", 1)[1].split("/telegram/messages")[0])
        ui, api = f"http://127.0.0.1:{ui_port}", f"http://127.0.0.1:{api_port}"
        deadline = time.monotonic() + 240  # Dagster loads the code location first: slow on a busy machine
        while not (_answers(f"{ui}/server_info") and _answers(f"{api}/api/v1/health/live")):
            assert process.poll() is None, f"dev stopped early:\n{process.communicate()[1]}"
            assert time.monotonic() < deadline, "the Dagster UI or the API never answered"
            time.sleep(2)
        # A seller writes /start; the bot (long polling the sandbox's Bot API) greets them.
        control.say(4242, "/start")
        while not control.sent(4242):
            assert time.monotonic() < deadline, "the bot never answered /start"
            time.sleep(1)
        greeting = control.sent(4242)[0]
        assert greeting["method"] == "sendMessage" and greeting["params"]["text"]
        family = _family(process.pid)
        # sandbox, dagster dev, its webserver, daemon and code server, the API, the bot
        assert len(family) >= 7, family

        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        out, err = process.communicate(timeout=30)
        stopped_after = time.monotonic() - started
        while any(_running(pid) for pid in family) and time.monotonic() - started < 12:
            time.sleep(0.2)
        left = sorted(pid for pid in family if _running(pid))
        assert stopped_after < 10, f"dev took {stopped_after:.1f} s to stop"
        assert not left, f"still running after SIGTERM: {left}"
        assert process.returncode == 0, err
        out = "".join(printed) + out
        assert ui in out and f"{api}/docs" in out  # the URLs an operator opens
        assert "Traceback" not in err
    finally:
        if process.poll() is None:
            process.kill()
        for pid in family:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
