"""Stripe's request encoding: form fields with bracketed keys (`items[0][price]=…`) into JSON-like
values, as Stripe's API reads them (numeric brackets make lists; `true`/`false` stay strings
until a handler asks for a bool)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

_PART = re.compile(r"\[([^\]]*)\]")


def parse_form(raw: str) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        head = key.split("[", 1)[0]
        parts = [head, *_PART.findall(key[len(head) :])]
        node: dict[str, Any] = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if last:
                if part == "":
                    node.setdefault("__list__", []).append(value)
                else:
                    node[part] = value
            else:
                node = node.setdefault(part, {})
    return _lists(root)


def _lists(node: Any) -> Any:
    """Dicts keyed 0, 1, … (or by `[]`) become lists, in index order."""
    if not isinstance(node, dict):
        return node
    if set(node) == {"__list__"}:
        return list(node["__list__"])
    converted = {k: _lists(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def as_bool(value: Any) -> bool:
    return str(value).lower() == "true"
