"""The sync report a linked chat gets (DESIGN §6b): totals, the most urgent products × warehouses
by days of cover, and the sheet link — Russian by default, English on request.

Built from the sheet's own grids (warehouse/sheet_layout.py), so the report never disagrees with
the sheet: the same plan limit, the same warehouse groups (WB's pooled `Склад WB`), the same days
of cover. `report_facts` gathers the numbers once per sync; `report_text` / `report_caption` word
them per chat (language, threshold, change since that chat's last report) inside Telegram's limits
(4096 characters of text, 1024 of caption) with every seller-provided name HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from warehouse.plan_products import first_products
from warehouse.plans import PLANS
from warehouse.sheet_layout import INFO_COLUMNS, TOTAL_COLUMNS, SheetGrid, build_grid
from warehouse.stock_reads import StockReader
from warehouse.tenants import TenantInfo

TEXT_LIMIT = 4096  # Bot API sendMessage
CAPTION_LIMIT = 1024  # Bot API sendPhoto / sendDocument
URGENT_SHOWN = 10  # the rest is one `/low` away
MARKETPLACE_SHORT = {"wildberries": "WB", "ozon": "Ozon"}
SHEET_URL = "https://docs.google.com/spreadsheets/d/{id}"

_TEXTS: dict[str, dict[str, str]] = {
    "title": {"ru": "Отчёт об остатках", "en": "Stock report"},
    "products": {"ru": "Товаров: {n}", "en": "Products: {n}"},
    "units": {"ru": "Остатки: {n} шт.", "en": "Stock: {n} units"},
    "orders": {"ru": "Заказы за {days} дн.: {n}", "en": "Orders in {days} days: {n}"},
    "change": {"ru": "{delta} с прошлого отчёта", "en": "{delta} since the last report"},
    "no_change": {"ru": "без изменений", "en": "no change"},
    "out_of_stock_count": {
        "ru": "Нет в наличии там, где продаётся: {n}",
        "en": "Out of stock where it sells: {n}",
    },
    "urgent": {
        "ru": "Закончатся раньше {days} дн. ({n}):",
        "en": "Running out within {days} days ({n}):",
    },
    "all_fine": {
        "ru": "Ни один товар не закончится раньше чем через {days} дн.",
        "en": "Nothing runs out within {days} days.",
    },
    "out_of_stock": {"ru": "нет в наличии", "en": "out of stock"},
    "cover": {"ru": "{days} дн.", "en": "{days} days"},
    "place": {
        "ru": "{stock} шт., {orders} зак.",
        "en": "{stock} units, {orders} orders",
    },
    "more": {"ru": "…и ещё {n}: /low", "en": "…and {n} more: /low"},
    "sheet": {"ru": "Открыть таблицу", "en": "Open the sheet"},
    "ship_first": {"ru": "Отгрузить в первую очередь ({n}):", "en": "Ship first ({n}):"},
    "ship_line": {
        "ru": "{doubt}{article} <code>{product}</code> → {marketplace} · {destination}: "
        "{units} шт. до {date} ({urgency})",
        "en": "{doubt}{article} <code>{product}</code> → {marketplace} · {destination}: "
        "{units} units by {date} ({urgency})",
    },
    "ship_more": {"ru": "…и ещё {n}: /plan", "en": "…and {n} more: /plan"},
    "left_out": {
        "ru": "В отчёте первые {limit} товаров по тарифу; ещё {n} не вошли.",
        "en": "The report covers the plan's first {limit} products; {n} more are left out.",
    },
    "empty": {
        "ru": "Данных об остатках пока нет: дождитесь первой синхронизации.",
        "en": "No stock data yet: wait for the first sync.",
    },
}


def text(key: str, locale: str, **values: Any) -> str:
    """A report phrase in the chat's language (Russian when the language is unknown)."""
    phrases = _TEXTS[key]
    return phrases.get(locale, phrases["ru"]).format(**values)


@dataclass(frozen=True)
class Place:
    """One product at one warehouse group, as the sheet's cells show it."""

    marketplace: str
    product_id: int
    article: str
    group: str
    stock: int
    orders: int
    days_of_cover: float | None  # None: no orders in the window

    @property
    def out_of_stock(self) -> bool:
        """Sells here and has nothing left: the most urgent kind."""
        return self.orders > 0 and self.stock <= 0


@dataclass(frozen=True)
class GroupStock:
    marketplace: str
    group: str
    stock: int
    orders: int
    days_of_cover: float | None


@dataclass(frozen=True)
class Totals:
    """The numbers a later report compares against ("change since the last report")."""

    products: int
    units: int
    orders: int

    def as_json(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Totals | None:
        if not data:
            return None
        try:
            return cls(int(data["products"]), int(data["units"]), int(data["orders"]))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class ReportFacts:
    """Everything a report says, independent of the chat it goes to."""

    seller: str
    built_at: datetime
    window_days: int
    totals: Totals
    places: tuple[Place, ...]  # every product × group with orders (the ones a cover exists for)
    groups: tuple[GroupStock, ...]
    marketplaces: tuple[str, ...]
    spreadsheet_id: str | None = None
    left_out: int = 0
    plan_products: int = 0
    # The supply plan (api/bot/supply_report.py): its first `ship first` rows and how many there
    # are, and the guard's findings of this sync (plan_rows / guard_findings dicts).
    ship_first: tuple[dict[str, Any], ...] = ()
    ship_first_total: int = 0
    guard: tuple[dict[str, Any], ...] = ()

    def urgent(self, threshold: int) -> list[Place]:
        """Products × groups whose cover is below `threshold` days, worst first: out of stock
        where it sells, then the shortest cover, then the most orders."""
        found = [p for p in self.places if p.days_of_cover is not None and p.days_of_cover < threshold]
        return sorted(found, key=lambda p: (p.days_of_cover, -p.orders, p.article, p.product_id, p.group))

    @property
    def out_of_stock(self) -> list[Place]:
        return [p for p in self.places if p.out_of_stock]

    def label(self, marketplace: str, group: str) -> str:
        """A group's name, with its marketplace when the seller has more than one."""
        if len(self.marketplaces) > 1:
            return f"{MARKETPLACE_SHORT.get(marketplace, marketplace)} · {group}"
        return group


def report_facts(
    grids: Sequence[SheetGrid],
    *,
    seller: str,
    built_at: datetime,
    spreadsheet_id: str | None = None,
    left_out: int = 0,
    plan_products: int = 0,
) -> ReportFacts:
    """The report's numbers from the sync's sheet grids (one per marketplace)."""
    products = units = orders = 0
    places: list[Place] = []
    groups: list[GroupStock] = []
    window = grids[0].window_days if grids else 7
    for grid in grids:
        group_stock = [0] * len(grid.groups)
        group_orders = [0] * len(grid.groups)
        for row in grid.rows:
            products += 1
            orders += int(row[6] or 0)
            units += int(row[7] or 0)
            for g, name in enumerate(grid.groups):
                start = INFO_COLUMNS + TOTAL_COLUMNS + 3 * g
                stock, sold, cover = row[start], row[start + 1], row[start + 2]
                group_stock[g] += int(stock or 0)
                group_orders[g] += int(sold or 0)
                if sold:
                    places.append(
                        Place(
                            grid.marketplace,
                            int(row[3]),  # type: ignore[arg-type]
                            str(row[2] or row[3]),
                            name,
                            int(stock or 0),
                            int(sold),
                            None if cover is None else float(cover),
                        )
                    )
        for g, name in enumerate(grid.groups):
            groups.append(
                GroupStock(
                    grid.marketplace,
                    name,
                    group_stock[g],
                    group_orders[g],
                    _cover(group_stock[g], group_orders[g], grid.window_days),
                )
            )
    return ReportFacts(
        seller=seller,
        built_at=built_at,
        window_days=window,
        totals=Totals(products, units, orders),
        places=tuple(places),
        groups=tuple(groups),
        marketplaces=tuple(g.marketplace for g in grids),
        spreadsheet_id=spreadsheet_id,
        left_out=left_out,
        plan_products=plan_products,
    )


# --- wording -----------------------------------------------------------------------------------


def number(value: int, locale: str) -> str:
    """12 345 (ru, a no-break space between thousands) or 12,345 (en)."""
    grouped = f"{value:,}"
    return grouped.replace(",", "\u00a0") if locale == "ru" else grouped


def days(value: float, locale: str) -> str:
    shown = f"{value:.1f}".removesuffix(".0")
    return shown.replace(".", ",") if locale == "ru" else shown


def delta(now: int, before: int, locale: str) -> str:
    change = now - before
    if change == 0:
        return text("no_change", locale)
    sign = "+" if change > 0 else "−"
    return sign + number(abs(change), locale)


def _stamp(moment: datetime, timezone: str) -> str:
    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("Europe/Moscow")
    local = moment.astimezone(zone)
    return f"{local:%d.%m.%Y %H:%M} ({escape(timezone)})"


def _headline(facts: ReportFacts, locale: str, timezone: str) -> str:
    title = text("title", locale)
    return f"<b>{title}: {escape(facts.seller[:100])}</b>\n{_stamp(facts.built_at, timezone)}"


def _totals_lines(facts: ReportFacts, locale: str, previous: Totals | None) -> list[str]:
    t = facts.totals
    lines = [text("products", locale, n=number(t.products, locale))]
    units = text("units", locale, n=number(t.units, locale))
    orders = text("orders", locale, days=facts.window_days, n=number(t.orders, locale))
    if previous is not None:
        units += f" ({text('change', locale, delta=delta(t.units, previous.units, locale))})"
        orders += f" ({delta(t.orders, previous.orders, locale)})"
    lines += [units, orders]
    out = len(facts.out_of_stock)
    if out:
        lines.append("⛔ " + text("out_of_stock_count", locale, n=number(out, locale)))
    return lines


def place_line(facts: ReportFacts, place: Place, locale: str) -> str:
    """`Its1/50g (163383326) — Коледино: нет в наличии, 0 шт., 12 зак.` with names escaped."""
    name = escape(place.article[:60])
    where = escape(facts.label(place.marketplace, place.group)[:80])
    if place.out_of_stock:
        state = "⛔ " + text("out_of_stock", locale)
    else:
        state = "⚠️ " + text("cover", locale, days=days(place.days_of_cover or 0.0, locale))
    counts = text("place", locale, stock=number(place.stock, locale), orders=number(place.orders, locale))
    return f"{name} <code>{place.product_id}</code> — {where}: {state}, {counts}"


def sheet_link(spreadsheet_id: str | None, locale: str) -> str | None:
    if not spreadsheet_id:
        return None
    url = escape(SHEET_URL.format(id=spreadsheet_id), quote=True)
    return f'<a href="{url}">{text("sheet", locale)}</a>'


def fit(
    head: Sequence[str],
    items: Sequence[str],
    tail: Sequence[str],
    limit: int,
    more: Callable[[int], str] | None = None,
    hidden: int = 0,
) -> str:
    """Head, as many items as fit, a "…and N more" line for the rest (those cut here plus
    `hidden` ones never offered), and the tail, within `limit` characters. Items are whole
    lines: a cut never splits an HTML tag."""

    def joined(kept: int) -> str:
        rest = len(items) - kept + hidden
        extra = [more(rest)] if rest and more is not None else []
        return "\n".join([*head, *items[:kept], *extra, *tail])

    kept = len(items)
    while kept > 0 and len(joined(kept)) > limit:
        kept -= 1
    result = joined(kept)
    if len(result) > limit:  # only a pathological head or tail gets here: never break the limit
        result = result[: limit - 1] + "…"
    return result


def report_text(
    facts: ReportFacts,
    *,
    locale: str = "ru",
    threshold: int = 14,
    timezone: str = "Europe/Moscow",
    previous: Totals | None = None,
    shown: int = URGENT_SHOWN,
    limit: int = TEXT_LIMIT,
) -> str:
    """The report message (HTML, at most `limit` characters)."""
    head = [_headline(facts, locale, timezone), "", *_totals_lines(facts, locale, previous), ""]
    if facts.totals.products == 0:
        return fit([*head[:2], text("empty", locale)], [], [], limit)
    urgent = facts.urgent(threshold)
    items: list[str] = []
    if urgent:
        head.append("<b>" + text("urgent", locale, days=threshold, n=number(len(urgent), locale)) + "</b>")
        items = [f"{i}. {place_line(facts, p, locale)}" for i, p in enumerate(urgent[:shown], 1)]
    else:
        head.append("✅ " + text("all_fine", locale, days=threshold))
    tail: list[str] = []
    hidden = len(urgent) - len(items)
    from api.bot.supply_report import ship_first_lines  # it builds on this module

    block = ship_first_lines(facts, locale)
    if block:
        tail += ["", *block]
    if facts.left_out:
        tail += ["", text("left_out", locale, limit=facts.plan_products, n=number(facts.left_out, locale))]
    link = sheet_link(facts.spreadsheet_id, locale)
    if link:
        tail += ["", link]
    return fit(head, items, tail, limit, lambda rest: text("more", locale, n=number(rest, locale)), hidden)


def report_caption(
    facts: ReportFacts,
    *,
    locale: str = "ru",
    timezone: str = "Europe/Moscow",
    previous: Totals | None = None,
) -> str:
    """The chart's caption: headline and totals (HTML, at most 1024 characters)."""
    lines = [_headline(facts, locale, timezone), *_totals_lines(facts, locale, previous)]
    return fit(lines, [], [], CAPTION_LIMIT)


def _cover(stock: int, orders: int, window: int) -> float | None:
    """stock × window ÷ orders, one decimal, half away from zero (as the sheet)."""
    if orders <= 0:
        return None
    tenths = (abs(stock) * 20 * window + orders) // (2 * orders)
    return (-tenths if stock < 0 else tenths) / 10


# --- from the stock model ------------------------------------------------------------------------


def tenant_grids(metrics: Sequence[dict[str, Any]], tenant: TenantInfo) -> tuple[list[SheetGrid], int]:
    """The tenant's sheet grids from the model's rows (`StockReader.metrics()`), exactly as the
    sync's `sheet_layout` asset builds them: the plan's first N products, a grid per marketplace."""
    import polars as pl

    frame = pl.DataFrame(list(metrics), infer_schema_length=None)
    frame, left_out = first_products(frame, PLANS[tenant.tier].products)
    grids = [
        build_grid(
            frame,
            marketplace=m,
            locale=tenant.locale,
            window_days=tenant.orders_window_days,
            low_stock_days=tenant.low_stock_days,
        )
        for m in ("wildberries", "ozon")
        if m in tenant.marketplaces
    ]
    return grids, left_out


def facts_for(
    grids: Sequence[SheetGrid], tenant: TenantInfo, built_at: datetime, left_out: int = 0
) -> ReportFacts:
    return report_facts(
        [g for g in grids if g.rows] or list(grids[:1]),
        seller=tenant.name,
        built_at=built_at,
        spreadsheet_id=tenant.spreadsheet_id,
        left_out=left_out,
        plan_products=PLANS[tenant.tier].products,
    )


def urgent_history(
    reader: StockReader, facts: ReportFacts, threshold: int, now: datetime, *, products: int = 5
) -> dict[str, list[tuple[datetime, int]]]:
    """The stock over the last 14 days of the most urgent products (whole product, real
    warehouses), keyed by the label the chart shows."""
    since = now - timedelta(days=14)
    found: dict[str, list[tuple[datetime, int]]] = {}
    for place in facts.urgent(threshold):
        label = place.article[:40]
        if len(facts.marketplaces) > 1:
            label = f"{MARKETPLACE_SHORT.get(place.marketplace, place.marketplace)} · {label}"
        if label in found:
            continue
        found[label] = reader.history(place.product_id, place.marketplace, since)
        if len(found) == products:
            break
    return found
