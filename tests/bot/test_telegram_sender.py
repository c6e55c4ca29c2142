"""The one Telegram sender against the sandbox over real HTTP: pacing under the flood limits,
429 retry_after, blocked and unknown chats, timeouts and resets, Telegram's length limits."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from telegram import Bot
from telegram.request import HTTPXRequest

from resources.telegram_sender import (
    BlockingTelegramSender,
    TelegramSender,
    database_marker,
    split_text,
    trim_caption,
    visible_length,
)
from sandbox.server import SandboxServer
from sandbox.telegram.control import TelegramControl
from warehouse.app_db import engine_for, migrate, session_factory
from warehouse.telegram_chats import active_chats, link_chat
from warehouse.tenants import create_tenant

TOKEN = "7000002:AAH" + "y" * 32
SCALE = 20.0
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(time_scale=SCALE) as running:
        yield running


@pytest.fixture
def control(server: SandboxServer) -> TelegramControl:
    return TelegramControl(server.control_url, TOKEN)


def make_sender(
    server: SandboxServer,
    inactive: list[tuple[int, str]] | None = None,
    time_scale: float = SCALE,
    **kw: Any,
) -> TelegramSender:
    base = server.urls["telegram"]
    request = HTTPXRequest(connection_pool_size=32, read_timeout=1.0, write_timeout=1.0)
    bot = Bot(TOKEN, base_url=base + "/bot", base_file_url=base + "/file/bot", request=request)

    def remember(chat_id: int, reason: str) -> None:
        if inactive is not None:
            inactive.append((chat_id, reason))

    return TelegramSender(bot, on_inactive=remember, time_scale=time_scale, **kw)


def fault(server: SandboxServer, **rule: Any) -> None:
    answer = requests.post(server.control_url + "/faults", json={"service": "telegram", **rule}, timeout=10)
    assert answer.status_code == 201, answer.text


def calls(control: TelegramControl, chat_id: int) -> list[tuple[str, bool, int | None]]:
    return [(c["method"], c["ok"], c.get("error_code")) for c in control.outbox(chat_id)["calls"]]


def test_a_burst_to_chats_and_a_group_draws_no_429(server: SandboxServer, control: TelegramControl) -> None:
    chats = [101, 102, 103, -100500]
    control.add_chats([{"id": c, "type": "private" if c > 0 else "supergroup"} for c in chats])

    async def scenario() -> list[Any]:
        async with make_sender(server) as sender:
            jobs = []
            for chat in chats:
                jobs += [sender.send_message(chat, f"<b>{chat}</b>"), sender.send_photo(chat, PNG, "chart")]
            jobs += [sender.send_message(-100500, f"group {i}") for i in range(21)]
            results = await asyncio.gather(*jobs)
            assert sender.counts["retry_after"] == 0
            return results

    results = asyncio.run(scenario())
    assert all(r.sent for r in results)
    for chat in chats:
        assert all(ok for _, ok, _ in calls(control, chat))
    # The group's 21st message waited for the sliding minute (60 s / 20 in the sandbox's time).
    group = control.outbox(-100500)["calls"]
    assert len(group) == 23 and group[-1]["time"] - group[0]["time"] >= 60 / SCALE - 0.05


def test_429_waits_retry_after_and_sends(server: SandboxServer, control: TelegramControl) -> None:
    control.add_chats([{"id": 110, "type": "private"}])
    fault(server, endpoint="/sendMessage", kind="429", count=1, retry_after=2)  # 0.1 s scaled

    async def scenario() -> Any:
        async with make_sender(server) as sender:
            result = await sender.send_message(110, "after the flood")
            assert sender.counts["retry_after"] == 1
            return result

    assert asyncio.run(scenario()).sent
    assert calls(control, 110) == [("sendMessage", True, None)]  # the 429 came before the chat's handler
    log = requests.get(server.control_url + "/requests?service=telegram", timeout=10).json()
    assert [e["status"] for e in log if e["path"] == "/sendMessage"] == [429, 200]


def test_a_long_flood_wait_is_deferred_not_waited(server: SandboxServer, control: TelegramControl) -> None:
    control.add_chats([{"id": 111, "type": "private"}])
    fault(server, endpoint="/sendPhoto", kind="429", count=1, retry_after=600)  # 30 s scaled

    async def scenario() -> Any:
        async with make_sender(server, max_wait=5.0) as sender:
            return await sender.send_photo(111, PNG, "chart")

    result = asyncio.run(scenario())
    assert (result.status, result.reason) == ("deferred", "rate_limited")


def test_blocked_and_unknown_chats_are_marked_inactive_and_skipped(
    server: SandboxServer, control: TelegramControl
) -> None:
    control.add_chats([{"id": 120, "type": "private"}])
    control.block(120)
    inactive: list[tuple[int, str]] = []

    async def scenario() -> list[Any]:
        async with make_sender(server, inactive) as sender:
            return [
                await sender.send_message(120, "hello"),
                await sender.send_message(120, "again"),
                await sender.send_photo(999_999, PNG, "nobody"),
            ]

    blocked, again, unknown = asyncio.run(scenario())
    assert (blocked.status, blocked.reason) == ("failed", "blocked")
    assert (again.status, again.reason) == ("failed", "inactive")
    assert (unknown.status, unknown.reason) == ("failed", "chat_not_found")
    assert inactive == [(120, "blocked"), (999_999, "chat_not_found")]
    assert calls(control, 120) == [("sendMessage", False, 403)]  # nothing more went there


def test_timeouts_and_resets_are_retried_then_deferred(
    server: SandboxServer, control: TelegramControl
) -> None:
    control.add_chats([{"id": 130, "type": "private"}, {"id": 131, "type": "private"}])
    fault(server, endpoint="/sendMessage", kind="timeout", count=1, delay=2)

    async def scenario() -> list[Any]:
        async with make_sender(server) as sender:
            first = await sender.send_message(130, "slow network")
            fault(server, endpoint="/sendDocument", kind="reset", count=10)
            second = await sender.send_document(131, b"PK", "stock.xlsx", "XLSX")
            return [first, second]

    first, second = asyncio.run(scenario())
    assert first.sent
    assert (second.status, second.reason) == ("deferred", "network")
    assert calls(control, 130) == [("sendMessage", True, None)]


def test_bad_html_fails_without_raising(server: SandboxServer, control: TelegramControl) -> None:
    control.add_chats([{"id": 140, "type": "private"}])

    async def scenario() -> Any:
        async with make_sender(server) as sender:
            return await sender.send_message(140, "Остатки <5 шт")

    result = asyncio.run(scenario())
    assert (result.status, result.reason) == ("failed", "bad_request")
    assert "parse entities" in (result.detail or "")


def test_long_texts_are_split_and_captions_cut(server: SandboxServer, control: TelegramControl) -> None:
    control.add_chats([{"id": 150, "type": "private"}])
    lines = [f"<b>Товар {i}</b> &amp; склад — {'я' * 80}" for i in range(120)]
    text = "\n".join(lines)
    caption = "\n".join(lines[:30])
    assert visible_length(text, "HTML") > 2 * 4096 and visible_length(caption, "HTML") > 1024

    async def scenario() -> list[Any]:
        async with make_sender(server) as sender:
            return [await sender.send_message(150, text), await sender.send_photo(150, PNG, caption)]

    message, photo = asyncio.run(scenario())
    assert message.sent and len(message.message_ids) == 3 and photo.sent
    sent = control.sent(150)
    texts = [c["params"]["text"] for c in sent if c["method"] == "sendMessage"]
    assert "\n".join(texts) == text  # nothing lost, cut only at line breaks
    shown_caption = sent[-1]["params"]["caption"]
    assert shown_caption.endswith("…") and visible_length(shown_caption, "HTML") <= 1024


def test_splitting_rules() -> None:
    assert split_text("short") == ["short"]
    one_line = "&lt;" * 5000
    pieces = split_text(one_line, 4096, "HTML")
    assert len(pieces) == 2 and all(visible_length(p, "HTML") <= 4096 for p in pieces)
    assert "".join(pieces) == one_line
    assert trim_caption("x" * 2000, 1024, None) == "x" * 1023 + "…"


def test_blocking_sender_and_the_database_marker(
    server: SandboxServer, control: TelegramControl, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    migrate(url)
    with session_factory(url)() as session:
        create_tenant(session, "alpha", "Alpha")
        link_chat(session, "alpha", 160, kind="private")
        link_chat(session, "alpha", 161, kind="private")
    control.add_chats([{"id": 160, "type": "private"}, {"id": 161, "type": "private"}])
    control.block(161)
    base = server.urls["telegram"]
    bot = Bot(TOKEN, base_url=base + "/bot", base_file_url=base + "/file/bot")
    with BlockingTelegramSender(
        TelegramSender(bot, on_inactive=database_marker(url), time_scale=SCALE)
    ) as sender:
        assert sender.send_message(160, "sync report").sent
        assert sender.send_document(161, b"PK", "stock.xlsx", "XLSX").reason == "blocked"
    with session_factory(url)() as session:
        assert [c.chat_id for c in active_chats(session, "alpha")] == [160]
    engine_for(url).dispose()


def test_a_group_upgraded_to_a_supergroup_is_followed(
    server: SandboxServer, control: TelegramControl
) -> None:
    control.add_chats([{"id": -170, "type": "group", "title": "Склад"}])
    control.migrate(-170, -1001700)
    moves: list[tuple[int, int]] = []

    async def scenario() -> list[Any]:
        sender = make_sender(server)
        sender.on_migrated = lambda old, new: moves.append((old, new))
        async with sender:
            return [await sender.send_message(-170, "report"), await sender.send_message(-170, "again")]

    first, second = asyncio.run(scenario())
    assert first.sent and second.sent
    assert moves == [(-170, -1001700)]  # recorded once; the second send went straight to the new id
    assert [c["error_code"] for c in control.outbox(-170)["calls"]] == [400]
    assert [c["params"]["text"] for c in control.sent(-1001700)] == ["report", "again"]


def test_at_real_limits_telegram_never_sees_more_than_30_a_second() -> None:
    with SandboxServer(time_scale=1.0) as server:
        TelegramControl(server.control_url, TOKEN).add_chats(
            [{"id": 5000 + i, "type": "private"} for i in range(75)]
        )

        async def scenario() -> list[Any]:
            async with make_sender(server, time_scale=1.0) as sender:
                return list(
                    await asyncio.gather(*(sender.send_message(5000 + i, "report") for i in range(75)))
                )

        started = time.monotonic()
        results = asyncio.run(scenario())
        elapsed = time.monotonic() - started
        log = requests.get(server.control_url + "/requests?service=telegram", timeout=10).json()
    assert all(r.sent for r in results)
    handled = sorted(e["time"] for e in log if e["path"] == "/sendMessage")
    assert len(handled) == 75  # no 429, no retry
    assert max(sum(1 for t in handled if start <= t < start + 1.0) for start in handled) <= 30
    assert 1.5 <= elapsed < 10  # 75 at 30 a second after a burst of 30: at least 1.5 s
