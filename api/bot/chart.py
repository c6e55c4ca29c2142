"""The report's chart (DESIGN §6b): a PNG rendered on the server with matplotlib, headless.

Left: stock per warehouse group (the sheet's groups, biggest first; the rest summed), each bar
coloured by the group's days of cover against the chat's threshold. Right, once the history
holds two snapshots or more: the most urgent products' stock over the last 14 days.

Matplotlib's object API (`Figure` + the Agg canvas), never `pyplot`: no global figure state, so
reports render safely from Dagster's threads, and no display is needed. What the chart shows is
also written into the PNG's text chunk `Series` (JSON), which tests and support read back.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from api.bot.report import ReportFacts

BARS_SHOWN = 15  # more bars stop being readable on a phone
LINES_SHOWN = 5
HISTORY_DAYS = 14
LOW = "#D9534F"  # cover below the threshold
OK = "#4A78C2"
IDLE = "#9AA5B1"  # no orders in the window: no cover
DPI = 100

_LABELS: dict[str, dict[str, str]] = {
    "stock_by_group": {"ru": "Остатки по складам, шт.", "en": "Stock by warehouse, units"},
    "history": {"ru": "Срочные товары: остатки за 14 дн.", "en": "Urgent products: stock, 14 days"},
    "others": {"ru": "Ещё {n} складов: {units} шт.", "en": "{n} more warehouses: {units} units"},
    "legend_low": {"ru": "меньше {days} дн.", "en": "under {days} days"},
    "legend_ok": {"ru": "{days} дн. и больше", "en": "{days} days or more"},
    "legend_idle": {"ru": "без заказов", "en": "no orders"},
    "empty": {"ru": "Нет остатков", "en": "No stock"},
}


def _label(key: str, locale: str, **values: Any) -> str:
    phrases = _LABELS[key]
    return phrases.get(locale, phrases["ru"]).format(**values)


@dataclass(frozen=True)
class Chart:
    png: bytes
    series: dict[str, Any]  # what was drawn: bars (label, value, colour) and lines
    render_seconds: float


def bars_of(facts: ReportFacts, threshold: float) -> tuple[list[tuple[str, int, str]], tuple[int, int]]:
    """(label, units, colour) per bar for the biggest groups, and (groups, units) of the rest —
    said under the chart, not drawn as a bar that would dwarf the others."""
    ordered = sorted(facts.groups, key=lambda g: (-g.stock, facts.label(g.marketplace, g.group)))
    bars = []
    for g in ordered[:BARS_SHOWN]:
        colour = IDLE if g.days_of_cover is None else LOW if g.days_of_cover < threshold else OK
        bars.append((facts.label(g.marketplace, g.group), g.stock, colour))
    rest = ordered[BARS_SHOWN:]
    return bars, (len(rest), sum(g.stock for g in rest))


def render_chart(
    facts: ReportFacts,
    *,
    threshold: float = 14,
    locale: str = "ru",
    timezone: str = "Europe/Moscow",
    history: Mapping[str, Sequence[tuple[datetime, int]]] | None = None,
) -> Chart:
    """The chart PNG; `history` maps a product's label to its (snapshot time, units), oldest first."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    started = time.perf_counter()
    bars, (others, others_units) = bars_of(facts, threshold)
    lines = {k: list(v) for k, v in (history or {}).items() if len(v) >= 2}
    lines = dict(list(lines.items())[:LINES_SHOWN])
    height = max(4.0, 0.42 * len(bars) + 1.6)
    width = 12.0 if lines else 8.0
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    # Margins from the longest bar label rather than matplotlib's constrained layout, which lays
    # the figure out by drawing it once more (a third of the render time).
    longest = max((len(_short(name, 28)) for name, _, _ in bars), default=4)
    figure.subplots_adjust(
        left=min(0.45, (longest * 7.8 + 30) / (DPI * width)),
        right=0.98,
        top=1 - 0.45 / height,
        bottom=(0.75 + (0.25 if others else 0.0)) / height,
        wspace=0.22,
    )
    axes = figure.subplots(1, 2 if lines else 1, squeeze=False)[0]

    left = axes[0]
    left.set_title(_label("stock_by_group", locale), fontsize=12, loc="left")
    if bars:
        names = [_short(name, 28) for name, _, _ in bars]
        values = [value for _, value, _ in bars]
        positions = list(range(len(bars)))
        drawn = left.barh(positions, values, color=[c for _, _, c in bars], height=0.7)
        left.set_yticks(positions, names, fontsize=9)
        left.invert_yaxis()  # biggest on top
        left.bar_label(drawn, labels=[_units(v, locale) for v in values], padding=3, fontsize=8)
        left.set_xlim(0, max(max(values), 1) * 1.18)
        # Under the bars, never over one of them.
        left.legend(
            handles=[
                Patch(color=LOW, label=_label("legend_low", locale, days=_days(threshold))),
                Patch(color=OK, label=_label("legend_ok", locale, days=_days(threshold))),
                Patch(color=IDLE, label=_label("legend_idle", locale)),
            ],
            loc="upper center",
            bbox_to_anchor=(0.5, -0.35 / height - (0.25 / height if others else 0.0)),
            ncols=3,
            fontsize=8,
            frameon=False,
        )
        if others:
            left.set_xlabel(
                _label("others", locale, n=others, units=_units(others_units, locale)), fontsize=9, loc="left"
            )
    else:
        left.text(0.5, 0.5, _label("empty", locale), ha="center", va="center", transform=left.transAxes)
        left.set_yticks([])
    left.spines[["top", "right"]].set_visible(False)
    left.tick_params(axis="x", labelsize=8)

    if lines:
        right = axes[1]
        right.set_title(_label("history", locale), fontsize=12, loc="left")
        zone = _zone(timezone)
        for name, points in lines.items():
            right.plot(
                [p[0].astimezone(zone) for p in points],
                [p[1] for p in points],
                marker="o",
                markersize=3,
                linewidth=1.6,
                label=_short(name, 30),
            )
        right.set_ylim(bottom=0)
        right.legend(fontsize=8, frameon=False, loc="upper left")
        right.spines[["top", "right"]].set_visible(False)
        right.tick_params(labelsize=8)
        import matplotlib.dates as mdates

        right.xaxis.set_major_formatter(mdates.DateFormatter("%d.%m", tz=zone))

    series = {
        "bars": [{"label": name, "units": value, "colour": colour} for name, value, colour in bars],
        "others": {"warehouses": others, "units": others_units},
        "lines": {name: [[p[0].isoformat(), p[1]] for p in points] for name, points in lines.items()},
    }
    buffer = io.BytesIO()
    # ASCII JSON: a PNG tEXt chunk is Latin-1, and warehouse names are Cyrillic.
    figure.savefig(buffer, format="png", metadata={"Series": json.dumps(series)})
    return Chart(buffer.getvalue(), series, time.perf_counter() - started)


def _days(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _short(name: str, width: int) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def _units(value: int, locale: str) -> str:
    grouped = f"{value:,}"
    return grouped.replace(",", "\u202f") if locale == "ru" else grouped


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (KeyError, ValueError):
        return ZoneInfo("Europe/Moscow")
