"""Placeholder replaced by the Ozon sandbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass
class OzonAccount:
    seller: Any

    @classmethod
    def build(cls, seller: Any, shift: timedelta, now: datetime) -> OzonAccount:
        return cls(seller)
