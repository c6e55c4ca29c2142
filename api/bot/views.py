"""What each command answers, computed from the same code the API uses (synchronous: the handlers
run these in a worker thread). Every function starts from a linked chat, so it only ever reads
that chat's tenant: app data through the tenant's scoped session, stock through its StockReader."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from api import i18n, sync_control
from api.bot.texts import COMMANDS, Raw, t
from api.credential_keys import MARKETPLACE_NAMES, connect_key
from api.dagster_client import DagsterClient
from api.deps import EDITORS
from api.errors import ApiError
from api.models import OzonKey, WildberriesKey
from settings import Settings
from warehouse import sync_runs, tenants
from warehouse import telegram_chats as chats
from warehouse.app_db import session_factory
from warehouse.billing import subscription_of, trial_days_left
from warehouse.models import TelegramChat, User
from warehouse.plans import PLANS
from warehouse.sheet_files import tenant_folder
from warehouse.stock_reads import PRODUCT_COLUMNS, ProductFilter, StockReader, WarehouseBusy
from warehouse.supply_plan import OZON_ADS, plan_rows, tenant_plan, tenant_today
from warehouse.supply_settings import load_settings
from warehouse.tenant_scope import tenant_session

LOW_PAGE = 10
PLAN_PAGE = 10
PLAN_FIELD = 60  # characters of an article or destination shown in a /plan line
STOCK_MATCHES = 10
THRESHOLDS = (3, 7, 14, 30)
QUIET = ((22, 8), (23, 7))


@dataclass(frozen=True)
class Chat:
    """A linked chat as the handlers need it (a plain copy, usable outside the session)."""

    chat_id: int
    tenant_id: str
    tenant_name: str
    kind: str
    language: str
    low_cover_days: int
    report_mode: str
    daily_hour: int
    quiet_start: int | None
    quiet_end: int | None
    timezone: str
    # Owners and admins may connect keys and start syncs (as in the API). A group was linked by one
    # of them; a private chat speaks for its user, whose role is read afresh each time.
    can_edit: bool = False


@dataclass
class Reply:
    text: str
    markup: InlineKeyboardMarkup | None = None
    document: tuple[bytes, str] | None = None  # (data, filename)
    extra: dict[str, Any] = field(default_factory=dict)


def _copy(row: TelegramChat, tenant_name: str, can_edit: bool = False) -> Chat:
    return Chat(
        row.chat_id,
        row.tenant_id,
        tenant_name,
        row.kind,
        row.language,
        row.low_cover_days,
        row.report_mode,
        row.daily_hour,
        row.quiet_start,
        row.quiet_end,
        row.timezone,
        can_edit,
    )


def linked_chat(settings: Settings, chat_id: int) -> Chat | None:
    with session_factory(settings.app_database_url)() as session:
        row = chats.chat_by_telegram_id(session, chat_id)
        if row is None:
            return None
        tenant = tenants.get_tenant(session, row.tenant_id)
        if tenant is None or tenant.status == "deleted":
            return None
        return _copy(row, tenant.name, _can_edit(session, row))


def await_key(settings: Settings, chat_id: int) -> None:
    with session_factory(settings.app_database_url)() as session:
        chats.await_key(session, chat_id)


def take_awaiting_key(settings: Settings, chat_id: int) -> bool:
    with session_factory(settings.app_database_url)() as session:
        return chats.take_awaiting_key(session, chat_id)


def _can_edit(session: Any, row: TelegramChat) -> bool:
    if row.user_id is None:
        return True
    user = session.get(User, row.user_id)
    return user is not None and user.tenant_id == row.tenant_id and user.role in EDITORS


# --- linking -------------------------------------------------------------------------------------


def start(
    settings: Settings,
    chat_id: int,
    kind: str,
    title: str | None,
    user_id: int | None,
    code: str,
    language: str,
) -> str:
    """`/start [code]`: link with a code, or by the Telegram id given at sign-up, or say how."""
    with session_factory(settings.app_database_url)() as session:
        if code:
            try:
                row = chats.redeem_link_code(
                    session, code, chat_id=chat_id, kind=kind, title=title, language=language
                )
            except chats.LinkRefused as refused:
                return t(f"link_{refused.reason}", language)
            return t("linked", row.language, tenant=_tenant_name(session, row.tenant_id))
        row = chats.chat_by_telegram_id(session, chat_id)
        if row is not None:
            return t("already_linked", row.language, tenant=_tenant_name(session, row.tenant_id))
        if kind == "private" and user_id is not None:
            row = chats.link_by_telegram_user(session, user_id, chat_id=chat_id, language=language)
            if row is not None:
                return t("linked", row.language, tenant=_tenant_name(session, row.tenant_id))
        return t("not_linked", language)


def _tenant_name(session: Any, tenant_id: str) -> str:
    tenant = tenants.get_tenant(session, tenant_id)
    return tenant.name if tenant else tenant_id


def stop(settings: Settings, chat_id: int, language: str) -> str:
    with session_factory(settings.app_database_url)() as session:
        row = chats.chat_by_telegram_id(session, chat_id)
        lang = row.language if row else language
        return t("stopped" if chats.unlink_telegram_chat(session, chat_id) else "not_linked", lang)


def help_text(language: str) -> str:
    lines = "\n".join(f"/{name} — {description}" for name, description in COMMANDS[language])
    return t("help", language, commands=Raw(lines))


# --- /status ---------------------------------------------------------------------------------------


def _local(at: datetime, chat: Chat) -> str:
    return at.astimezone(ZoneInfo(chat.timezone)).strftime("%d.%m.%Y %H:%M")


def _age(delta: timedelta, lang: str) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} мин" if lang == "ru" else f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} ч" if lang == "ru" else f"{hours} h"
    return f"{hours // 24} дн." if lang == "ru" else f"{hours // 24} days"


def _every(minutes: int, lang: str) -> str:
    if minutes % 60 == 0:
        return f"{minutes // 60} ч" if lang == "ru" else f"{minutes // 60} h"
    return f"{minutes} мин" if lang == "ru" else f"{minutes} min"


def status(settings: Settings, chat: Chat, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    lang = chat.language
    with tenant_session(settings.app_database_url, chat.tenant_id) as session:
        tenant = tenants.get_tenant(session, chat.tenant_id)
        assert tenant is not None
        plan = PLANS[tenant.tier]
        keys = tenants.credential_status(session, chat.tenant_id)
        sub = subscription_of(session, chat.tenant_id)
        runs = sync_runs.recent_sync_runs(session, chat.tenant_id, limit=1)
    lines = [t("status_title", lang, tenant=tenant.name)]
    lines.append(t("status_plan", lang, plan=plan.name, status=sub.status if sub else "active"))
    if sub is not None and sub.trial_ends_at is not None and trial_days_left(sub, now) > 0:
        lines.append(
            t("status_trial", lang, date=_local(sub.trial_ends_at, chat), days=trial_days_left(sub, now))
        )
    synced = _last_snapshots(settings, chat.tenant_id)
    if not keys:
        lines.append(t("status_no_keys", lang))
    for key in keys:
        expiry = ""
        if key.expires_at is not None:
            days = max(0, (key.expires_at - now).days)
            expiry = t("key_expiry", lang, date=_local(key.expires_at, chat), days=days)
        lines.append(
            t(
                "status_key",
                lang,
                marketplace=MARKETPLACE_NAMES[key.marketplace],
                validity=t(f"key_{key.status}", lang),
                expiry=Raw(expiry),
            )
        )
        at = synced.get(key.marketplace)
        if at is None:
            lines.append("  " + t("status_never", lang))
        else:
            lines.append("  " + t("status_last_sync", lang, at=_local(at, chat), age=_age(now - at, lang)))
            upcoming = max(at + timedelta(minutes=plan.sync_every_minutes), now)
            lines.append(
                "  "
                + t(
                    "status_next",
                    lang,
                    at=_local(upcoming, chat),
                    every=_every(plan.sync_every_minutes, lang),
                )
            )
    if runs and runs[0].status in sync_runs.ACTIVE:
        lines.append(t("status_running", lang, status=runs[0].status))
    elif runs and runs[0].status == "failed":
        lines.append(t("status_failed", lang, error=runs[0].error or "-"))
    return "\n".join(lines)


def _last_snapshots(settings: Settings, tenant_id: str) -> dict[str, datetime]:
    """The newest snapshot per marketplace in the stock model: when each last synced successfully."""
    try:
        with StockReader(settings.warehouse_url, tenant_id) as reader:
            frame = reader.product_totals().frame
    except WarehouseBusy:
        return {}
    if frame.is_empty():
        return {}
    found: dict[str, datetime] = {}
    import polars as pl

    for row in frame.group_by("marketplace").agg(pl.col("snapshot_at").max().alias("at")).to_dicts():
        at = row["at"]
        if at is not None:
            found[row["marketplace"]] = at if at.tzinfo else at.replace(tzinfo=UTC)
    return found


# --- /sync -----------------------------------------------------------------------------------------


def forbidden(chat: Chat) -> str:
    return i18n.message("forbidden_role", chat.language, {"roles": ", ".join(EDITORS)})


def sync(settings: Settings, chat: Chat, dagster: DagsterClient) -> str:
    """The API's sync route, word for word: owners and admins, the plan's gate and hourly limit,
    then the launch."""
    if not chat.can_edit:
        return forbidden(chat)
    with tenant_session(settings.app_database_url, chat.tenant_id) as session:
        tenant = tenants.get_tenant(session, chat.tenant_id)
        assert tenant is not None
        try:
            # Counted with the API's manual syncs, so the bot cannot bypass the plan's cadence.
            run = sync_control.start_manual_sync(session, dagster, tenant, trigger="manual")
        except ApiError as refused:
            return i18n.message(refused.code, chat.language, refused.params)
        return t("sync_started", chat.language, run_id=run.run_id or "-")


# --- /stock ----------------------------------------------------------------------------------------


def _cover(days: float | None, stock: int, lang: str) -> str:
    if days is None:
        return t("cover_none", lang) if stock else t("out_of_stock", lang)
    if stock == 0:
        return t("out_of_stock", lang)
    return t("cover_days", lang, days=f"{days:.1f}")


def find_products(reader: StockReader, query: str) -> list[dict[str, Any]]:
    """An exact seller article (any case) or product id first; else what the search finds."""
    totals = reader.product_totals().frame
    if totals.is_empty():
        return []
    import polars as pl

    term = query.strip().lower()
    match = pl.col("article").str.to_lowercase() == term
    if term.isdigit() and len(term) <= 18:
        match = match | (pl.col("product_id") == int(term))
    exact = totals.filter(match.fill_null(False)).select(PRODUCT_COLUMNS).to_dicts()
    if exact:
        return exact
    rows, _ = reader.products(ProductFilter(search=term), limit=STOCK_MATCHES + 1)
    return rows


def stock(settings: Settings, chat: Chat, query: str) -> str:
    lang = chat.language
    if not query.strip():
        return t("stock_usage", lang)
    try:
        with StockReader(settings.warehouse_url, chat.tenant_id) as reader:
            found = find_products(reader, query)
            if not found:
                return t("stock_not_found", lang, query=query.strip())
            if len(found) > 1:
                items = "\n".join(
                    f"• <code>{_esc(r['article'])}</code> · "
                    f"{MARKETPLACE_NAMES[r['marketplace']]} {r['product_id']}"
                    for r in found[:STOCK_MATCHES]
                )
                return t("stock_many", lang, count=len(found), items=Raw(items))
            row = found[0]
            places = reader.warehouses(int(row["product_id"]), row["marketplace"])
    except WarehouseBusy:
        return t("error", lang)
    cover = row["days_of_cover"]
    lines = [
        t(
            "stock_title",
            lang,
            article=row["article"] or "-",
            marketplace=MARKETPLACE_NAMES[row["marketplace"]],
            product_id=row["product_id"],
            title=row["title"] or "",
            stock=int(row["stock"]),
            window=int(row["window_days"] or 0),
            orders=int(row["orders"]),
            cover=_cover(float(cover) if cover is not None else None, int(row["stock"]), lang),
        )
    ]
    shown = [p for p in places if p["stock"] or p["orders"]]
    for place in shown:
        lines.append(
            t(
                "stock_line",
                lang,
                name=place["warehouse_name"],
                stock=place["stock"],
                orders=place["orders"],
                cover=_cover(place["days_of_cover"], place["stock"], lang),
            )
        )
    if not shown:
        lines.append(t("stock_none", lang))
    return "\n".join(lines)


def _esc(value: Any) -> str:
    import html

    return html.escape(str(value or "-"), quote=False)


# --- /low ------------------------------------------------------------------------------------------


def low_rows(settings: Settings, chat: Chat) -> list[dict[str, Any]] | None:
    """Products × warehouses below the chat's threshold, worst first: out of stock where it sells,
    then the fewest days of cover, then the most orders. None: no stock model yet."""
    with StockReader(settings.warehouse_url, chat.tenant_id) as reader:
        metrics = reader.metrics()
    if not metrics:
        return None
    below = [
        m
        for m in metrics
        if m["warehouse_kind"] != "TRANSIT"
        and m["days_of_cover"] is not None
        and float(m["days_of_cover"]) < chat.low_cover_days
        and int(m["orders"]) > 0
    ]
    below.sort(
        key=lambda m: (float(m["days_of_cover"]), -int(m["orders"]), str(m["article"]), m["warehouse_name"])
    )
    return below


def low(settings: Settings, chat: Chat, page: int = 1) -> Reply:
    lang = chat.language
    try:
        rows = low_rows(settings, chat)
    except WarehouseBusy:
        return Reply(t("error", lang))
    if rows is None:
        return Reply(t("no_data", lang))
    if not rows:
        return Reply(t("low_none", lang, threshold=chat.low_cover_days))
    pages = math.ceil(len(rows) / LOW_PAGE)
    page = min(max(1, page), pages)
    start_at = (page - 1) * LOW_PAGE
    lines = [t("low_title", lang, threshold=chat.low_cover_days, count=len(rows), page=page, pages=pages)]
    for n, row in enumerate(rows[start_at : start_at + LOW_PAGE], start=start_at + 1):
        lines.append(
            t(
                "low_line",
                lang,
                n=n,
                article=row["article"] or row["product_id"],
                warehouse=row["warehouse_name"],
                stock=int(row["stock"]),
                orders=int(row["orders"]),
                cover=_cover(float(row["days_of_cover"]), int(row["stock"]), lang),
            )
        )
    buttons = []
    if page > 1:
        buttons.append(InlineKeyboardButton("◀", callback_data=f"low:{page - 1}"))
    if page < pages:
        buttons.append(InlineKeyboardButton("▶", callback_data=f"low:{page + 1}"))
    return Reply("\n".join(lines), InlineKeyboardMarkup([buttons]) if buttons else None, extra={"page": page})


# --- /plan -----------------------------------------------------------------------------------------


def plan_of(settings: Settings, chat: Chat) -> tuple[list[dict[str, Any]], date]:
    """The tenant's supply plan as the API gives it (warehouse/supply_plan.py), in plan order:
    most urgent first (last day to ship, then units), the plan tier's products only."""
    with tenant_session(settings.app_database_url, chat.tenant_id) as session:
        tenant = tenants.get_tenant(session, chat.tenant_id)
        assert tenant is not None
        plan_settings = load_settings(session, chat.tenant_id)
        today, limit = tenant_today(tenant.timezone), PLANS[tenant.tier].products
    with StockReader(settings.warehouse_url, chat.tenant_id) as reader:
        return plan_rows(tenant_plan(reader, plan_settings, today, limit)), today


def rate_source(value: str, lang: str) -> str:
    """`ozon_ads_28d` → Ozon's own 28-day rate; `orders_<N>d` → the orders of the tenant's window."""
    if value == OZON_ADS:
        return t("rate_ozon", lang)
    days = value.removeprefix("orders_").removesuffix("d")
    return t("rate_orders", lang, days=days) if days.isdigit() else value


def _day(iso: str | None) -> str:
    return date.fromisoformat(iso).strftime("%d.%m.%Y") if iso else "—"


def _short(value: Any, limit: int = PLAN_FIELD) -> str:
    # A page must stay under Telegram's 4096 characters whatever the seller named things.
    text = str(value if value not in (None, "") else "-")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plan_line(n: int, row: dict[str, Any], lang: str) -> str:
    return t(
        "plan_line",
        lang,
        n=n,
        doubt=Raw("⚠ " if row["in_doubt"] else ""),
        article=_short(row["article"] or row["product_id"]),
        marketplace=MARKETPLACE_NAMES[row["marketplace"]],
        destination=_short(row["destination"]),
        units=int(row["units_to_ship"]),
        ship_by=_day(row["last_day_to_ship"]),
        urgency=t(f"urgency_{row['urgency']}", lang),
        source=rate_source(str(row["rate_source"]), lang),
    )


def plan(settings: Settings, chat: Chat, page: int = 1) -> Reply:
    lang = chat.language
    try:
        rows, today = plan_of(settings, chat)
    except WarehouseBusy:
        return Reply(t("error", lang))
    if not rows:
        return Reply(t("no_data", lang))
    pages = math.ceil(len(rows) / PLAN_PAGE)
    page = min(max(1, page), pages)
    start_at = (page - 1) * PLAN_PAGE
    urgent = sum(1 for r in rows if r["urgency"] in ("overdue", "urgent"))
    lines = [
        t("plan_title", lang, date=today.strftime("%d.%m.%Y"), count=len(rows), page=page, pages=pages),
        t("plan_urgent", lang, count=urgent),
    ]
    shown = rows[start_at : start_at + PLAN_PAGE]
    lines += [plan_line(n, row, lang) for n, row in enumerate(shown, start=start_at + 1)]
    if any(r["in_doubt"] for r in shown):
        lines.append(t("plan_doubt", lang))
    buttons = []
    if page > 1:
        buttons.append(InlineKeyboardButton("◀", callback_data=f"plan:{page - 1}"))
    if page < pages:
        buttons.append(InlineKeyboardButton("▶", callback_data=f"plan:{page + 1}"))
    return Reply("\n".join(lines), InlineKeyboardMarkup([buttons]) if buttons else None, extra={"page": page})


# --- /export ---------------------------------------------------------------------------------------


def export(settings: Settings, chat: Chat) -> Reply:
    """The XLSX the last sync published (`<out>/<seller>/stock.xlsx`), as it was written."""
    path = tenant_folder(Path(str(settings.output_dir)), chat.tenant_name) / "stock.xlsx"
    if not path.is_file():
        return Reply(t("no_data", chat.language))
    return Reply(
        t("export_caption", chat.language, tenant=chat.tenant_name),
        document=(path.read_bytes(), "stock.xlsx"),
    )


# --- /settings -------------------------------------------------------------------------------------


def settings_menu(chat: Chat) -> Reply:
    lang = chat.language
    mode = t(f"mode_{chat.report_mode}", lang, hour=chat.daily_hour)
    quiet = (
        t("quiet_on", lang, start=chat.quiet_start, end=chat.quiet_end, tz=chat.timezone)
        if chat.quiet_start is not None
        else t("quiet_off", lang)
    )
    text = t("settings_title", lang, threshold=chat.low_cover_days, mode=Raw(mode), quiet=quiet)

    def mark(label: str, on: bool) -> str:
        return ("✓ " if on else "") + label

    rows = [
        [
            InlineKeyboardButton(
                mark(t("button_threshold", lang, days=d), d == chat.low_cover_days),
                callback_data=f"set:low:{d}",
            )
            for d in THRESHOLDS
        ],
        [
            InlineKeyboardButton(
                mark(t(f"button_{m}", lang), m == chat.report_mode), callback_data=f"set:mode:{m}"
            )
            for m in ("every_sync", "daily", "alerts")
        ],
        [
            *(
                InlineKeyboardButton(
                    mark(
                        t("button_quiet", lang, start=s, end=e), (s, e) == (chat.quiet_start, chat.quiet_end)
                    ),
                    callback_data=f"set:quiet:{s}-{e}",
                )
                for s, e in QUIET
            ),
            InlineKeyboardButton(
                mark(t("button_quiet_off", lang), chat.quiet_start is None), callback_data="set:quiet:off"
            ),
        ],
        [
            InlineKeyboardButton(mark("Русский", lang == "ru"), callback_data="set:lang:ru"),
            InlineKeyboardButton(mark("English", lang == "en"), callback_data="set:lang:en"),
        ],
    ]
    return Reply(text, InlineKeyboardMarkup(rows))


def apply_setting(settings: Settings, chat: Chat, data: str) -> Chat:
    """A settings button: `set:<what>:<value>`; unknown values are refused by the warehouse."""
    _, what, value = data.split(":", 2)
    changes: dict[str, Any]
    if what == "low":
        changes = {"low_cover_days": int(value)}
    elif what == "mode":
        changes = {"report_mode": value}
    elif what == "quiet":
        start_hour, end_hour = (None, None) if value == "off" else (int(v) for v in value.split("-"))
        changes = {"quiet_start": start_hour, "quiet_end": end_hour}
    elif what == "lang":
        changes = {"language": value}
    else:
        raise ValueError(f"unknown setting {what!r}")
    with session_factory(settings.app_database_url)() as session:
        row = chats.update_chat_settings(session, chat.chat_id, **changes)
        return _copy(row, chat.tenant_name, chat.can_edit)


# --- /connect --------------------------------------------------------------------------------------


def parse_key(text: str) -> WildberriesKey | OzonKey | None:
    """One word: a WB token; two: Ozon Client-Id and Api-Key. The values are never echoed."""
    words = text.split()
    try:
        if len(words) == 1:
            return WildberriesKey.model_validate({"marketplace": "wildberries", "token": words[0]})
        if len(words) == 2:
            return OzonKey.model_validate({"marketplace": "ozon", "client_id": words[0], "api_key": words[1]})
    except ValidationError:
        return None
    return None


def connect(settings: Settings, chat: Chat, key: WildberriesKey | OzonKey) -> str:
    """The API's credentials route: owners and admins, plan slots, the marketplace's check, the key
    stored encrypted."""
    lang = chat.language
    if not chat.can_edit:
        return t("connect_refused", lang, message=forbidden(chat))
    with tenant_session(settings.app_database_url, chat.tenant_id) as session:
        tenant = tenants.get_tenant(session, chat.tenant_id)
        assert tenant is not None
        try:
            stored = connect_key(session, settings, tenant, key)
        except ApiError as refused:
            return t("connect_refused", lang, message=i18n.message(refused.code, lang, refused.params))
    return t(
        "connect_ok", lang, marketplace=MARKETPLACE_NAMES[stored.marketplace], fingerprint=stored.fingerprint
    )
