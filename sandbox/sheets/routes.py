"""Google Sheets v4 (and one Drive call) over HTTP: auth, per-user quota, then the model.

Auth: `Authorization: Bearer sa:<e-mail>` — the token names the service account. A real JSON key
whose `token_uri` points at the sandbox's `/oauth2/token` gets exactly that token.
Quota: per service account, reads (GET) and writes (everything else) each
`sheets_*_per_minute` (default 60, Google's per-user numbers), time-scaled like every bucket.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

import jwt
from aiohttp import web

from sandbox.http import json_response, read_json
from sandbox.ratelimit import Limit
from sandbox.sheets import errors
from sandbox.sheets.batch import BatchError, apply_batch
from sandbox.sheets.model import SheetsStore, Spreadsheet, build_spreadsheet
from sandbox.sheets.ranges import RangeError, apply_mask, parse_mask
from sandbox.sheets.values import read_values, write_values
from sandbox.sheets.views import control_dump, spreadsheet_resource
from sandbox.state import SandboxState

TOKEN_PREFIX = "sa:"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
Handler = Callable[[web.Request, Spreadsheet], Awaitable[web.Response]]


def _state(request: web.Request) -> SandboxState:
    from sandbox.server import STATE_KEY

    return request.app[STATE_KEY]


def store(state: SandboxState) -> SheetsStore:
    """The spreadsheets; rebuilt from the scenario after each scenario load (which clears extras)."""
    found = state.extras.get("sheets")
    if found is None:
        found = state.extras["sheets"] = SheetsStore.from_scenario(state.scenario)
    return found


def caller(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    return token[len(TOKEN_PREFIX) :] if token.startswith(TOKEN_PREFIX) and len(token) > 3 else None


def endpoint(write: bool) -> Callable[[Handler], Callable[[web.Request], Awaitable[web.Response]]]:
    """Google's order: authenticate, charge the user's quota, find the file, check sharing."""

    def wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        @wraps(handler)
        async def run(request: web.Request) -> web.Response:
            who = caller(request)
            if who is None:
                return errors.google_error(401, errors.UNAUTHENTICATED)
            state = _state(request)
            switches = state.switches
            per_minute = switches.sheets_writes_per_minute if write else switches.sheets_reads_per_minute
            kind = "write" if write else "read"
            decision = state.buckets.take(who, f"sheets:{kind}", Limit.per_minute(per_minute, per_minute))
            if not decision.allowed:
                return errors.quota_exceeded(kind, per_minute)
            book = store(state).books.get(request.match_info["sid"])
            if book is None:
                return errors.google_error(404, errors.NOT_FOUND)
            if not (book.can_write(who) if write else book.can_read(who)):
                return errors.google_error(403, errors.PERMISSION_DENIED)
            try:
                return await handler(request, book)
            except (BatchError, RangeError) as exc:
                return errors.google_error(400, str(exc))

        return run

    return wrap


async def _body(request: web.Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise RangeError("Invalid JSON payload received.")
    return body


@endpoint(write=False)
async def get_spreadsheet(request: web.Request, book: Spreadsheet) -> web.Response:
    grid = request.query.get("includeGridData", "false").lower() == "true"
    resource = spreadsheet_resource(book, grid)
    fields = request.query.get("fields")
    return json_response(apply_mask(resource, parse_mask(fields)) if fields else resource)


@endpoint(write=True)
async def batch_update(request: web.Request, book: Spreadsheet) -> web.Response:
    body = await _body(request)
    replies = apply_batch(book, body.get("requests"))
    answer: dict[str, Any] = {"spreadsheetId": book.id, "replies": replies}
    if body.get("includeSpreadsheetInResponse"):
        answer["updatedSpreadsheet"] = spreadsheet_resource(book, False)
    return json_response(answer)


def _values_answer(book: Spreadsheet, responses: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "spreadsheetId": book.id,
        "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
        "totalUpdatedColumns": max((r["updatedColumns"] for r in responses), default=0),
        "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
        "totalUpdatedSheets": len({r["updatedRange"].rpartition("!")[0] for r in responses}),
        "responses": responses,
    }


@endpoint(write=True)
async def values_batch_update(request: web.Request, book: Spreadsheet) -> web.Response:
    body = await _body(request)
    responses = write_values(book, body.get("data"), body.get("valueInputOption"))
    return json_response(_values_answer(book, responses))


@endpoint(write=True)
async def values_put(request: web.Request, book: Spreadsheet) -> web.Response:
    body = await _body(request)
    target = request.match_info["range"]
    item = {"range": target, "values": body.get("values"), "majorDimension": body.get("majorDimension")}
    responses = write_values(book, [item], request.query.get("valueInputOption"))
    return json_response(responses[0] if responses else {"spreadsheetId": book.id, "updatedRange": target})


@endpoint(write=False)
async def values_get(request: web.Request, book: Spreadsheet) -> web.Response:
    query = request.query
    return json_response(
        read_values(
            book, request.match_info["range"], query.get("valueRenderOption"), query.get("majorDimension")
        )
    )


@endpoint(write=False)
async def values_batch_get(request: web.Request, book: Spreadsheet) -> web.Response:
    query = request.query
    ranges = query.getall("ranges", [])
    render, major = query.get("valueRenderOption"), query.get("majorDimension")
    return json_response(
        {"spreadsheetId": book.id, "valueRanges": [read_values(book, r, render, major) for r in ranges]}
    )


async def drive_permissions(request: web.Request) -> web.Response:
    """Drive v3 permissions.list — only so benchmarks can count the predecessor's extra call."""
    who = caller(request)
    if who is None:
        return errors.google_error(401, errors.UNAUTHENTICATED)
    book = store(_state(request)).books.get(request.match_info["sid"])
    if book is None or not book.can_read(who):
        return errors.google_error(404, f"File not found: {request.match_info['sid']}.")
    people = [(book.owner, "owner"), *((e, "writer") for e in sorted(book.editors))]
    people += [(v, "reader") for v in sorted(book.viewers)]
    return json_response(
        {
            "kind": "drive#permissionList",
            "permissions": [
                {
                    "kind": "drive#permission",
                    "id": f"p{i}",
                    "type": "user",
                    "emailAddress": email,
                    "role": role,
                }
                for i, (email, role) in enumerate(people)
            ],
        }
    )


async def oauth_token(request: web.Request) -> web.Response:
    """Google's token endpoint for a service-account key (JWT bearer grant).

    The assertion's signature is not checked (the sandbox knows no public keys); its `iss`, the
    service account, becomes the token `sa:<iss>` the Sheets routes accept.
    """
    form = await request.post()
    assertion = str(form.get("assertion") or "")
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        claims = {}
    if form.get("grant_type") != JWT_GRANT or not claims.get("iss"):
        return json_response({"error": "invalid_grant", "error_description": "Invalid JWT."}, 400)
    return json_response(
        {"access_token": f"{TOKEN_PREFIX}{claims['iss']}", "expires_in": 3599, "token_type": "Bearer"}
    )


# --- control API ----------------------------------------------------------------------------------


async def control_create(request: web.Request) -> web.Response:
    """`POST /_control/sheets/spreadsheets` with the scenario's spreadsheet JSON; 201 {id}."""
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not body["id"]:
        return json_response({"error": "invalid_spreadsheet", "message": "a spreadsheet needs an `id`"}, 400)
    try:
        book = store(_state(request)).add(build_spreadsheet(body))
    except (KeyError, TypeError, ValueError) as exc:
        return json_response({"error": "invalid_spreadsheet", "message": str(exc)}, 400)
    return json_response({"id": book.id, "sheets": [s.title for s in book.sheets]}, 201)


async def control_get(request: web.Request) -> web.Response:
    book = store(_state(request)).books.get(request.match_info["sid"])
    if book is None:
        return json_response({"error": "not_found", "message": "no such spreadsheet"}, 404)
    return json_response(control_dump(book))


def register(app: web.Application) -> None:
    from sandbox.server import ERRORS_KEY

    app[ERRORS_KEY]["sheets"] = errors.GoogleErrors()
    app[ERRORS_KEY]["drive"] = errors.GoogleErrors()
    app[ERRORS_KEY]["oauth2"] = errors.GoogleErrors()
    app.router.add_post("/oauth2/token", oauth_token)
    base = "/sheets/v4/spreadsheets/{sid:[^/:]+}"
    app.router.add_get(base, get_spreadsheet)
    app.router.add_post(base + ":batchUpdate", batch_update)
    app.router.add_post(base + "/values:batchUpdate", values_batch_update)
    app.router.add_get(base + "/values:batchGet", values_batch_get)
    app.router.add_get(base + "/values/{range:.+}", values_get)
    app.router.add_put(base + "/values/{range:.+}", values_put)
    app.router.add_get("/drive/drive/v3/files/{sid}/permissions", drive_permissions)
    app.router.add_post("/_control/sheets/spreadsheets", control_create)
    app.router.add_get("/_control/sheets/spreadsheets/{sid}", control_get)
