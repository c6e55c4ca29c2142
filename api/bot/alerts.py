"""Alerts (DESIGN §6b): conditions a seller must act on, each sent once when it starts.

A condition has a key naming exactly what it is about (`low_cover:wildberries:<product>:<group>`,
`token_expiring:wildberries:<date>`, …). warehouse/telegram_deliveries.py keeps, per chat, the
keys that fired and have not cleared; a key fires when it appears, never again while it stays,
and re-arms once it is gone. So a retried run (same conditions, state already recorded) sends
nothing twice, and an alert queued in quiet hours waits for their end.

Stock conditions come from a sync's report facts (the report step evaluates them); account
conditions (keys, failing syncs, trial) from the app database (the `telegram_deliveries` sensor
evaluates them too, since a failing sync never reaches the report step).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape
from typing import Any

from sqlalchemy.orm import Session

from api.bot.report import MARKETPLACE_SHORT, TEXT_LIMIT, ReportFacts, days, fit, number

STOCK_KINDS = ("low_cover", "out_of_stock")
ACCOUNT_KINDS = ("token_expiring", "key_refused", "sync_failing", "trial_ending")
GUARD_KINDS = ("data_in_doubt",)  # the supply guard (warehouse/supply_guard.py) found a broken identity
TOKEN_WARNING = timedelta(days=7)
TRIAL_WARNING = timedelta(days=3)
FAILURES_IN_A_ROW = 3

_TEXTS: dict[str, dict[str, str]] = {
    "title": {"ru": "🔔 Уведомления: {seller}", "en": "🔔 Alerts: {seller}"},
    "out_of_stock": {
        "ru": "⛔ {article} <code>{product}</code> — {group}: закончился, а заказы есть ({orders} зак.)",
        "en": "⛔ {article} <code>{product}</code> — {group}: out of stock while it sells ({orders} orders)",
    },
    "low_cover": {
        "ru": "⚠️ {article} <code>{product}</code> — {group}: хватит на {cover} дн. ({stock} шт.)",
        "en": "⚠️ {article} <code>{product}</code> — {group}: {cover} days of cover left ({stock} units)",
    },
    "token_expiring": {
        "ru": "🔑 Токен {marketplace} истекает {date}: выпустите новый и подключите его (/connect).",
        "en": "🔑 The {marketplace} token expires on {date}: issue a new one and connect it (/connect).",
    },
    "token_expired": {
        "ru": "🔑 Токен {marketplace} истёк {date}: синхронизация невозможна, подключите новый (/connect).",
        "en": "🔑 The {marketplace} token expired on {date}: syncs cannot run, connect a new one (/connect).",
    },
    "key_refused": {
        "ru": "🚫 {marketplace} отклонил ключ: {reason}. Подключите действующий (/connect).",
        "en": "🚫 {marketplace} refused the key: {reason}. Connect a valid one (/connect).",
    },
    "sync_failing": {
        "ru": "❗ Синхронизация не удалась {n} раза подряд: {reason}. "
        "Данные и таблица — с последней удачной.",
        "en": "❗ The sync failed {n} times in a row: {reason}. Data and sheet are from the last good one.",
    },
    "trial_ending": {
        "ru": "⏳ Пробный период заканчивается {date}: выберите тариф, чтобы синхронизация не остановилась.",
        "en": "⏳ The trial ends on {date}: choose a plan so syncs keep running.",
    },
    "data_in_doubt": {
        "ru": "🧭 {marketplace}: данные маркетплейса не сходятся ({what}) у товаров: {n}. "
        "План поставок по ним под сомнением (⚠ в /plan); таблица обновляется как обычно.",
        "en": "🧭 {marketplace}: the marketplace's numbers disagree ({what}) for {n} products. "
        "Their supply plan is in doubt (⚠ in /plan); the sheet updates as usual.",
    },
    "wb_remains_total": {
        "ru": "склады и агрегаты ≠ «Всего находится на складах»",
        "en": "warehouses and aggregates ≠ “Всего находится на складах”",
    },
    "wb_report_vs_remains": {
        "ru": "отчёт об остатках ≠ warehouse_remains",
        "en": "stock report ≠ warehouse_remains",
    },
    "ozon_clusters_vs_totals": {
        "ru": "сумма по кластерам ≠ общий остаток",
        "en": "clusters ≠ the total stock",
    },
    "more": {"ru": "…и ещё {n}: /low", "en": "…and {n} more: /low"},
}


def _t(key: str, locale: str, **values: Any) -> str:
    phrases = _TEXTS[key]
    return phrases.get(locale, phrases["ru"]).format(**values)


@dataclass(frozen=True)
class Condition:
    key: str
    kind: str
    about: dict[str, Any] = field(default_factory=dict)  # what the message says (already safe data)


# --- conditions -----------------------------------------------------------------------------------


def stock_conditions(facts: ReportFacts, threshold: int) -> list[Condition]:
    """Out of stock where it had orders, and cover under the chat's threshold, worst first."""
    found = []
    for place in facts.urgent(threshold):
        kind = "out_of_stock" if place.out_of_stock else "low_cover"
        found.append(
            Condition(
                f"{kind}:{place.marketplace}:{place.product_id}:{place.group}",
                kind,
                {
                    "article": place.article,
                    "product": place.product_id,
                    "group": facts.label(place.marketplace, place.group),
                    "stock": place.stock,
                    "orders": place.orders,
                    "cover": place.days_of_cover,
                },
            )
        )
    return found


def guard_conditions(facts: ReportFacts) -> list[Condition]:
    """One condition per marketplace × broken identity: it fires once, stays quiet while the
    identity stays broken, and re-arms once a sync finds it holding again."""
    products: dict[tuple[str, str], set[int]] = {}
    for finding in facts.guard:
        products.setdefault((finding["marketplace"], finding["identity"]), set()).add(
            int(finding["product_id"])
        )
    return [
        Condition(
            f"data_in_doubt:{marketplace}:{identity}",
            "data_in_doubt",
            {
                "marketplace": MARKETPLACE_SHORT.get(marketplace, marketplace),
                "identity": identity,
                "n": len(ids),
            },
        )
        for (marketplace, identity), ids in sorted(products.items())
    ]


def account_conditions(session: Session, tenant_id: str, now: datetime) -> list[Condition]:
    """The key, sync and trial conditions of a tenant, from the app database."""
    from warehouse.billing import subscription_of
    from warehouse.sync_runs import recent_sync_runs
    from warehouse.tenants import credential_status

    found: list[Condition] = []
    for key in credential_status(session, tenant_id):
        name = MARKETPLACE_SHORT.get(key.marketplace, key.marketplace)
        if key.status == "invalid":
            found.append(
                Condition(
                    f"key_refused:{key.marketplace}:{key.fingerprint}",
                    "key_refused",
                    {"marketplace": name, "reason": key.check_message or "401"},
                )
            )
        if key.expires_at is not None and key.expires_at - now <= TOKEN_WARNING:
            found.append(
                Condition(
                    f"token_expiring:{key.marketplace}:{key.expires_at.date().isoformat()}",
                    "token_expiring",
                    {
                        "marketplace": name,
                        "expires_at": key.expires_at.isoformat(),
                        "expired": key.expires_at <= now,
                    },
                )
            )
    finished = [
        r for r in recent_sync_runs(session, tenant_id, limit=10) if r.status in ("success", "failed")
    ]
    latest = finished[:FAILURES_IN_A_ROW]
    if len(latest) == FAILURES_IN_A_ROW and all(r.status == "failed" for r in latest):
        # One key for the whole streak: it lasts until a sync succeeds, which re-arms it.
        streak = next((i for i, r in enumerate(finished) if r.status != "failed"), len(finished))
        found.append(
            Condition(
                "sync_failing",
                "sync_failing",
                {"n": streak, "reason": (latest[0].error or "").split("\n")[0][:300]},
            )
        )
    sub = subscription_of(session, tenant_id)
    if (
        sub is not None
        and sub.status == "trialing"
        and sub.stripe_subscription_id is None  # no card given: the trial will not turn into a plan
        and sub.trial_ends_at is not None
        and now < sub.trial_ends_at <= now + TRIAL_WARNING
    ):
        found.append(
            Condition(
                f"trial_ending:{sub.trial_ends_at.date().isoformat()}",
                "trial_ending",
                {"ends_at": sub.trial_ends_at.isoformat()},
            )
        )
    return found


# --- wording ---------------------------------------------------------------------------------------


def condition_line(condition: Condition, locale: str, timezone: str) -> str:
    a = condition.about
    if condition.kind in STOCK_KINDS:
        return _t(
            condition.kind,
            locale,
            article=escape(str(a["article"])[:60]),
            product=int(a["product"]),
            group=escape(str(a["group"])[:80]),
            stock=number(int(a["stock"]), locale),
            orders=number(int(a["orders"]), locale),
            cover=days(float(a["cover"] or 0.0), locale),
        )
    if condition.kind == "token_expiring":
        key = "token_expired" if a.get("expired") else "token_expiring"
        return _t(key, locale, marketplace=a["marketplace"], date=_date(a["expires_at"], timezone))
    if condition.kind == "key_refused":
        return _t("key_refused", locale, marketplace=a["marketplace"], reason=escape(str(a["reason"])[:200]))
    if condition.kind == "sync_failing":
        return _t("sync_failing", locale, n=a["n"], reason=escape(str(a["reason"]) or "—"))
    if condition.kind == "data_in_doubt":
        what = _t(a["identity"], locale) if a["identity"] in _TEXTS else escape(str(a["identity"]))
        return _t("data_in_doubt", locale, marketplace=a["marketplace"], what=what, n=a["n"])
    if condition.kind == "trial_ending":
        return _t("trial_ending", locale, date=_date(a["ends_at"], timezone))
    raise ValueError(f"unknown alert kind {condition.kind!r}")


def alert_text(
    conditions: Sequence[Condition], *, seller: str, locale: str = "ru", timezone: str = "Europe/Moscow"
) -> str:
    """One message for the alerts that fired together (account alerts first, then stock, worst
    first), within Telegram's 4096 characters; what does not fit is counted and left to /low."""
    ordered = [
        c for kinds in (ACCOUNT_KINDS, GUARD_KINDS, STOCK_KINDS) for c in conditions if c.kind in kinds
    ]
    head = [f"<b>{_t('title', locale, seller=escape(seller[:100]))}</b>"]
    items = [condition_line(c, locale, timezone) for c in ordered]
    return fit(head, items, [], TEXT_LIMIT, lambda rest: _t("more", locale, n=number(rest, locale)))


def _date(iso: str, timezone: str) -> str:
    from zoneinfo import ZoneInfo

    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("Europe/Moscow")
    return f"{datetime.fromisoformat(iso).astimezone(zone):%d.%m.%Y}"


# --- quiet hours ----------------------------------------------------------------------------------


def quiet_until(now: datetime, timezone: str, start: int | None, end: int | None) -> datetime | None:
    """When the chat's quiet hours (local hours `start`..`end`, may wrap midnight) end, if `now` is
    inside them; None otherwise."""
    if start is None or end is None or start == end:
        return None
    from zoneinfo import ZoneInfo

    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("Europe/Moscow")
    local = now.astimezone(zone)
    hour = local.hour
    inside = start <= hour < end if start < end else hour >= start or hour < end
    if not inside:
        return None
    ends = local.replace(hour=end, minute=0, second=0, microsecond=0)
    if ends <= local:
        ends += timedelta(days=1)
    return ends
