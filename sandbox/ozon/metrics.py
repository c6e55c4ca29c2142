"""Ozon's sales-speed figures: average daily sales (ads), days of cover (idc) and their grades.

Ozon publishes the grade names and, for `/v1/analytics/stocks`, the day bands (spec S5 descriptions:
DEFICIT < 28 days of cover, POPULAR 28–56, ACTUAL 56–120, SURPLUS > 120). For the turnover
method's GREEN…CRITICAL grades it publishes no thresholds; the bands here are the sandbox's [INF].
"""

from __future__ import annotations


def days_of_cover(stock: int, daily: float) -> float:
    """Days the stock lasts at `daily` sales; 0 when nothing sells (Ozon reports no cover then)."""
    return round(stock / daily, 1) if daily > 0 else 0.0


def liquidity_grade(available: int, daily: float) -> str:
    """`turnover_grade` of /v1/analytics/stocks."""
    if daily <= 0:
        # No sales in 28 days: with stock it is "no sales", without it "was without sales".
        return "NO_SALES" if available > 0 else "WAS_NO_SALES"
    cover = available / daily
    if cover < 28:
        return "DEFICIT"
    if cover < 56:
        return "POPULAR"
    if cover < 120:
        return "ACTUAL"
    return "SURPLUS"


def cover_grade(stock: int, daily: float) -> str:
    """`idc_grade` of /v1/analytics/turnover/stocks: short cover is the bad end."""
    if daily <= 0:
        return "GRADES_NOSALES" if stock > 0 else "GRADES_NONE"
    cover = stock / daily
    if cover < 7:
        return "GRADES_CRITICAL"
    if cover < 14:
        return "GRADES_RED"
    if cover < 28:
        return "GRADES_YELLOW"
    return "GRADES_GREEN"


def turnover_grade(stock: int, daily: float) -> str:
    """`turnover_grade` of /v1/analytics/turnover/stocks: slow turnover is the bad end."""
    if daily <= 0:
        return "GRADES_NOSALES" if stock > 0 else "GRADES_NONE"
    turnover = stock / daily
    if turnover <= 30:
        return "GRADES_GREEN"
    if turnover <= 60:
        return "GRADES_YELLOW"
    if turnover <= 120:
        return "GRADES_RED"
    return "GRADES_CRITICAL"
