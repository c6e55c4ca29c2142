"""The sync report (DESIGN §6b): its totals and urgent list equal the stock model after a real
sync; its text stays inside Telegram's limits with names escaped; its chart decodes and shows the
warehouse groups' stock and the urgent products' history."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson
from PIL import Image

from api.bot.chart import IDLE, LOW, OK, render_chart
from api.bot.report import (
    CAPTION_LIMIT,
    TEXT_LIMIT,
    Totals,
    facts_for,
    report_caption,
    report_text,
    tenant_grids,
    urgent_history,
)
from tests.bot.sync_platform import BOTH_SELLER, WB_SELLER, Platform
from warehouse.mart import Mart
from warehouse.stock_reads import PSEUDO_WAREHOUSES

THRESHOLD = 14


def mart_rows(platform: Platform, tenant: str, sql: str) -> list[tuple[Any, ...]]:
    mart = Mart(platform.settings.warehouse_url.replace("{tenant}", tenant), tenant)
    try:
        return mart.rows(sql, {"t": tenant})
    finally:
        mart.close()


def expected_places(
    platform: Platform, tenant: str, window: int
) -> list[tuple[str, int, str, int, int, float]]:
    """Straight from `mart.stock_metrics`: per product × warehouse (WB reports by name in the
    scenario's detailed mode, so each place is its own group), stock, orders, cover."""
    pseudo = ", ".join(f"'{w}'" for w in PSEUDO_WAREHOUSES)
    rows = mart_rows(
        platform,
        tenant,
        "select marketplace, product_id, warehouse_name, warehouse_kind, sum(stock), sum(orders) "
        "from mart.stock_metrics where tenant_id = $t and warehouse_kind <> 'TRANSIT' "
        f"and warehouse_name not in ({pseudo}) group by 1, 2, 3, 4",
    )
    places = []
    for marketplace, product, name, kind, stock, orders in rows:
        if orders:
            cover = float(Decimal(int(stock) * window / int(orders)).quantize(Decimal("0.1"), ROUND_HALF_UP))
            group = name + " (FBS)" if kind == "FBS" else name
            places.append((marketplace, int(product), group, int(stock), int(orders), cover))
    return places


def build(platform: Platform, tenant_id: str, now: datetime):  # type: ignore[no-untyped-def]
    tenant = platform.tenants()[tenant_id]
    with platform.reader(tenant_id) as reader:
        grids, left_out = tenant_grids(reader.metrics(), tenant)
        facts = facts_for(grids, tenant, now, left_out)
        history = urgent_history(reader, facts, THRESHOLD, now)
    return tenant, facts, history


def test_totals_and_urgent_list_equal_the_stock_model(platform: Platform) -> None:
    for tenant_id in (WB_SELLER, BOTH_SELLER):
        assert platform.sync(tenant_id).success
        tenant, facts, _ = build(platform, tenant_id, datetime.now(UTC))
        window = tenant.orders_window_days
        places = expected_places(platform, tenant_id, window)

        pseudo = ", ".join(f"'{w}'" for w in PSEUDO_WAREHOUSES)
        units, orders = mart_rows(
            platform,
            tenant_id,
            "select sum(stock), sum(orders) from mart.stock_metrics where tenant_id = $t "
            f"and warehouse_kind <> 'TRANSIT' and warehouse_name not in ({pseudo})",
        )[0]
        products = mart_rows(platform, tenant_id, "select count(*) from mart.products where tenant_id = $t")[
            0
        ][0]
        assert facts.totals == Totals(int(products), int(units), int(orders))
        assert facts.totals.units > 0 and facts.totals.orders > 0

        urgent = sorted((p for p in places if p[5] < THRESHOLD), key=lambda p: (p[5], -p[4]))
        got = [
            (p.marketplace, p.product_id, p.group, p.stock, p.orders, p.days_of_cover)
            for p in facts.urgent(THRESHOLD)
        ]
        assert sorted(got) == sorted(urgent)
        assert [p[5] for p in got] == sorted(p[5] for p in got)  # worst first
        assert len(got) > 10  # enough to page

        text = report_text(facts, locale="ru", threshold=THRESHOLD, timezone=tenant.timezone)
        assert len(text) <= TEXT_LIMIT
        assert f"Товаров: {facts.totals.products}" in text
        for place in facts.urgent(THRESHOLD)[:10]:
            assert f"<code>{place.product_id}</code>" in text
        assert f"…и ещё {len(got) - 10}: /low" in text

    # The WB seller's product sells where it is out of stock: the first line of its report.
    _, facts, _ = build(platform, WB_SELLER, datetime.now(UTC))
    first = facts.urgent(THRESHOLD)[0]
    assert first.stock == 0 and first.orders > 0 and first.days_of_cover == 0.0
    text = report_text(facts, locale="ru", threshold=THRESHOLD)
    assert f"1. {first.article} <code>{first.product_id}</code> — {first.group}: ⛔ нет в наличии" in text
    english = report_text(facts, locale="en", threshold=THRESHOLD)
    assert "⛔ out of stock" in english and "Running out within 14 days" in english


def test_text_fits_telegram_limits_and_escapes_names(platform: Platform) -> None:
    assert platform.sync(BOTH_SELLER).success
    _, facts, _ = build(platform, BOTH_SELLER, datetime.now(UTC))
    hostile = facts.__class__(**{**facts.__dict__, "seller": "<b>Shop</b> & <script>x</script>" * 40})

    every = report_text(hostile, locale="en", threshold=10_000, shown=10_000)
    assert len(every) <= TEXT_LIMIT
    assert "<script>" not in every and "&lt;script&gt;" in every
    listed = every.count("<code>")
    assert 0 < listed < len(hostile.urgent(10_000))
    assert f"…and {len(hostile.urgent(10_000)) - listed} more: /low" in every

    caption = report_caption(hostile, locale="ru", previous=Totals(1, facts.totals.units - 5, 0))
    assert len(caption) <= CAPTION_LIMIT
    assert "<script>" not in caption
    assert "+5 с прошлого отчёта" in caption

    linked = facts.__class__(**{**facts.__dict__, "spreadsheet_id": "1AbC-dEf_123"})
    assert '<a href="https://docs.google.com/spreadsheets/d/1AbC-dEf_123">Открыть таблицу</a>' in report_text(
        linked
    )


def bar_runs(png: bytes, colours: tuple[str, ...]) -> dict[str, int]:
    """How many separate bars of each colour a vertical scan crosses just right of where the bars
    start (every bar starts at 0 on the left axis; the legend sits far right of it)."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    rgb = {c: tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in colours}
    width, height = image.size
    pixels = image.load()
    start = min(x for x in range(width // 2) for y in range(0, height, 2) if pixels[x, y] in rgb.values())
    runs = dict.fromkeys(colours, 0)
    for colour, target in rgb.items():
        inside = False
        for y in range(height):
            hit = pixels[start + 2, y] == target
            runs[colour] += hit and not inside
            inside = hit
    return runs


def test_chart_decodes_and_shows_the_groups_and_history(platform: Platform) -> None:
    assert platform.sync(WB_SELLER).success
    # A second sync with less stock everywhere gives each urgent product a two-point history.
    changed = platform.changed()
    for seller in changed["sellers"]:
        for stock in seller["stocks"]:
            if "quantity" in stock:
                stock["quantity"] = stock["quantity"] // 2
    platform.load_scenario(changed)
    assert platform.sync(WB_SELLER).success
    now = datetime.now(UTC)
    tenant, facts, history = build(platform, WB_SELLER, now)

    # A threshold between the groups' covers, so both colours show (the orders in a 7-day window
    # depend on the hour the test runs).
    covers = sorted(g.days_of_cover for g in facts.groups if g.days_of_cover is not None)
    assert len(covers) >= 2 and covers[0] < covers[-1]
    threshold = covers[-1]
    chart = render_chart(facts, threshold=threshold, locale="ru", timezone=tenant.timezone, history=history)
    image = Image.open(io.BytesIO(chart.png))
    image.load()
    assert image.format == "PNG" and image.size[0] >= 800
    series = orjson.loads(image.text["Series"])

    groups: dict[str, int] = {}
    pseudo = ", ".join(f"'{w}'" for w in PSEUDO_WAREHOUSES)
    for name, kind, stock in mart_rows(
        platform,
        WB_SELLER,
        "select warehouse_name, warehouse_kind, sum(stock) from mart.stock_metrics "
        f"where tenant_id = $t and warehouse_kind <> 'TRANSIT' and warehouse_name not in ({pseudo}) "
        "group by 1, 2 having sum(stock) <> 0 or sum(orders) <> 0",
    ):
        groups[name + " (FBS)" if kind == "FBS" else name] = int(stock)
    expected = sorted(groups.items(), key=lambda g: (-g[1], g[0]))
    assert [(b["label"], b["units"]) for b in series["bars"]] == expected
    # The bars themselves, counted in the pixels by colour (bars under 1 % of the biggest are
    # thinner than a pixel and not counted).
    visible = max(b["units"] for b in series["bars"]) / 100
    drawn = {
        colour: sum(1 for b in series["bars"] if b["colour"] == colour and b["units"] >= visible)
        for colour in (LOW, OK, IDLE)
    }
    assert drawn[LOW] > 0 and drawn[OK] + drawn[IDLE] > 0
    assert bar_runs(chart.png, (LOW, OK, IDLE)) == drawn

    # The urgent products' lines: two snapshots each, the second half the first (±1 per size row).
    assert series["lines"] and len(series["lines"]) <= 5
    for points in series["lines"].values():
        assert len(points) == 2
        assert points[1][1] <= points[0][1] // 2 + 20
        assert datetime.fromisoformat(points[0][0]) > now - timedelta(days=14)
    assert 0 < chart.render_seconds < 5
