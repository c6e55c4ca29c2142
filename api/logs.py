"""JSON log lines that never carry a secret.

One object per line: time, level, logger, message, the request id of the request being served,
and any `extra={"fields": {...}}`. Before a line is written, anything shaped like a JWT (access,
refresh and WB tokens alike), a `Bearer …` credential or a value under a secret-sounding key is
replaced, so a careless message or a library's exception text cannot leak one.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

HIDDEN = "<hidden>"
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_SECRET_KEYS = re.compile(
    r"(?i)(password|passwd|secret|token|api[_-]?key|authorization|cookie|client[_-]?secret)"
)
_SECRET_PAIRS = re.compile(
    r"(?i)\b(password|secret|token|api[_-]?key|authorization)(\"?\s*[:=]\s*\"?)([^\s\",}&]+)"
)


def redact(text: str) -> str:
    text = _JWT.sub(HIDDEN, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {HIDDEN}", text)
    return _SECRET_PAIRS.sub(lambda m: f"{m.group(1)}{m.group(2)}{HIDDEN}", text)


def _clean(value: Any, key: str = "") -> Any:
    if key and _SECRET_KEYS.search(key):
        return HIDDEN
    if isinstance(value, dict):
        return {str(k): _clean(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        request_id = request_id_var.get()
        if request_id:
            line["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(_clean(fields))
        if record.exc_info and record.exc_info[0] is not None:
            line["error_type"] = record.exc_info[0].__name__
            line["traceback"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(line).decode()


def configure(level: str = "INFO") -> None:
    """JSON lines on stderr for the API process (its own loggers, uvicorn's and the libraries')."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # The API writes its own access line per request (api/middleware.py), with the route template.
    logging.getLogger("uvicorn.access").disabled = True
