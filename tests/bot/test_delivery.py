"""Reports after a real sync reach each linked chat through the sandbox's Bot API: once per run
(a retried step queues nothing new), per the chat's mode, the chart as a photo; a send that fails
never fails the sync and goes out later, without repeating what was already sent."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from PIL import Image

from api.bot.delivery import after_sync, send_due
from api.bot.report import facts_for, tenant_grids, urgent_history
from resources.telegram_reports import TelegramReports
from tests.bot.sync_platform import WB_SELLER, Platform
from warehouse.telegram_deliveries import deliveries

EVERY, DAILY_DONE, DAILY_LATER, ALERTS_ONLY = 501, 502, 503, -1001500


def test_each_chat_gets_its_mode_once_per_run(platform: Platform) -> None:
    platform.link(WB_SELLER, EVERY)
    platform.link(WB_SELLER, DAILY_DONE, report_mode="daily", daily_hour=0, timezone="UTC")
    platform.link(WB_SELLER, DAILY_LATER, report_mode="daily", daily_hour=23, timezone="Pacific/Kiritimati")
    platform.link(WB_SELLER, ALERTS_ONLY, report_mode="alerts", language="en")

    outcome = platform.sync(WB_SELLER)
    assert outcome.success

    every = platform.sent(EVERY)
    assert [m for m, _ in every] == ["sendMessage", "sendPhoto", "sendMessage"]  # report, chart, alerts
    text, caption, alerts = every[0][1]["text"], every[1][1]["caption"], every[2][1]["text"]
    assert text.startswith("<b>Отчёт об остатках: Seller 1 Severnyi Len</b>")
    assert "Нет в наличии там, где продаётся" in text and "Товаров: 60" in text
    assert len(caption) <= 1024 and "Остатки:" in caption
    assert "🔔 Уведомления" in alerts and "закончился, а заказы есть" in alerts
    call = next(c for c in platform.telegram.sent(EVERY) if c["method"] == "sendPhoto")
    png = platform.telegram.file(call["files"][0]["file_id"])
    assert Image.open(io.BytesIO(png)).format == "PNG"

    # The daily digest went to the chat whose hour has come (UTC midnight has always passed today)…
    assert [m for m, _ in platform.sent(DAILY_DONE)][:2] == ["sendMessage", "sendPhoto"]
    # …not yet to the one whose hour is 23 in its zone (unless it is 23 there now).
    later = [m for m, _ in platform.sent(DAILY_LATER)]
    kiritimati = datetime.now(UTC).astimezone(ZoneInfo("Pacific/Kiritimati")).hour
    assert later[:2] == (["sendMessage", "sendPhoto"] if kiritimati == 23 else ["sendMessage"])
    # Alerts only: the alert message, in English, no report.
    group = platform.sent(ALERTS_ONLY)
    assert [m for m, _ in group] == ["sendMessage"] and group[0][1]["text"].startswith("<b>🔔 Alerts")

    # The report step again for the same run (a retry): nothing new is queued or sent.
    tenant = platform.tenants()[WB_SELLER]
    now = datetime.now(UTC)
    with platform.session() as session, platform.reader(WB_SELLER) as reader:
        grids, left_out = tenant_grids(reader.metrics(), tenant)
        facts = facts_for(grids, tenant, now, left_out)
        again = after_sync(
            session, WB_SELLER, facts, outcome.run_id, history=lambda t: urgent_history(reader, facts, t, now)
        )
        resources = TelegramReports(
            app_database_url=platform.settings.app_database_url,
            api_url=platform.settings.telegram_api_url,
            time_scale=1000.0,
        )
        with resources.sender() as sender:
            resent = send_due(session, sender, tenant_id=WB_SELLER)
    assert again.queued == {"report": 0, "digest": 0, "alert": 0} and again.alerts_fired == 0
    assert resent.sent == 0
    assert len(platform.sent(EVERY)) == 3

    # The next sync is a new run: a new report, which says how stock changed since the last one.
    assert platform.sync(WB_SELLER).success
    every = platform.sent(EVERY)
    assert [m for m, _ in every] == ["sendMessage", "sendPhoto", "sendMessage", "sendMessage", "sendPhoto"]
    assert "с прошлого отчёта" in every[3][1]["text"]
    assert len(platform.sent(ALERTS_ONLY)) == 1  # the same conditions: no alert again


def test_a_failed_send_keeps_the_sync_and_goes_out_later_without_repeats(platform: Platform) -> None:
    platform.link(WB_SELLER, EVERY)
    # Telegram fails every photo upload for now (5xx): the text goes, the chart waits.
    platform.fault(service="telegram", endpoint="/sendPhoto", kind="502", count=100)
    outcome = platform.sync(WB_SELLER)
    assert outcome.success
    assert [m for m, _ in platform.sent(EVERY)] == ["sendMessage", "sendMessage"]  # report text, alerts
    with platform.session() as session:
        report = next(d for d in deliveries(session, WB_SELLER, EVERY) if d.kind == "report")
        assert (report.status, report.sent, report.attempts) == ("pending", 1, 1)
        assert report.photo is not None

    platform.clear_faults()
    resources = TelegramReports(
        app_database_url=platform.settings.app_database_url,
        api_url=platform.settings.telegram_api_url,
        time_scale=1000.0,
    )
    with platform.session() as session, resources.sender() as sender:
        early = send_due(session, sender, now=datetime.now(UTC))  # its backoff has not passed
        later = send_due(session, sender, now=datetime.now(UTC) + timedelta(minutes=5))
        report = next(d for d in deliveries(session, WB_SELLER, EVERY) if d.kind == "report")
        assert (report.status, report.photo) == ("delivered", None)
    assert (early.sent, later.sent) == (0, 1)
    assert [m for m, _ in platform.sent(EVERY)] == ["sendMessage", "sendMessage", "sendPhoto"]
