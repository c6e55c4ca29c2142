"""Validate sandbox answers against the official OpenAPI copies with openapi-core.

The specs name the real hosts; the sandbox serves them under path prefixes. Each check rebuilds
the request with the real host URL so openapi-core finds the operation the real client would hit.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path

import requests
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

SPECS = Path(__file__).resolve().parents[3] / "shared" / "reference" / "specs"


def _wb_date_time(value: str) -> bool:
    """WB's specs say `date-time` but the real answers (and the specs' own examples) often carry no
    offset — `"2022-03-04T18:08:31"`, Moscow time. Accept ISO 8601 with or without one."""
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


@cache
def spec(relative: str) -> OpenAPI:
    config = Config(extra_format_validators={"date-time": _wb_date_time})
    return OpenAPI.from_file_path(str(SPECS / relative), config=config)


def validate(openapi: OpenAPI, real_url: str, response: requests.Response) -> None:
    """Raise if `response` (from the sandbox) breaks the spec's response schema for `real_url`."""
    sent = response.request
    real = requests.Request(sent.method, real_url, headers=dict(sent.headers), data=sent.body).prepare()
    openapi.validate_response(RequestsOpenAPIRequest(real), RequestsOpenAPIResponse(response))
