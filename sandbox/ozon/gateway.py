"""What Ozon's gateway does before a method runs: check Client-Id + Api-Key, draw from the
account's buckets, read the JSON body; afterwards stamp `Ratelimit-Remaining` on the answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from aiohttp import web

from sandbox.http import read_json
from sandbox.ozon import errors
from sandbox.ozon import limits as L
from sandbox.ozon.errors import BadRequest, NotFound
from sandbox.ozon.model import OzonAccount
from sandbox.state import SandboxState

Body = dict[str, Any]  # the request's JSON object
Handler = Callable[[web.Request, OzonAccount, Body], Awaitable[web.Response]]
Route = Callable[[web.Request], Awaitable[web.Response]]


def sandbox_state(request: web.Request) -> SandboxState:
    from sandbox.server import STATE_KEY

    return request.app[STATE_KEY]


def _authenticate(request: web.Request) -> tuple[str, OzonAccount] | web.Response:
    client_id = request.headers.get("Client-Id", "").strip()
    api_key = request.headers.get("Api-Key", "").strip()
    if not client_id or not api_key:
        return errors.missing_headers()
    if not client_id.isdigit() or int(client_id) <= 0:
        return errors.bad_client_id()
    account: OzonAccount | None = sandbox_state(request).ozon_accounts.get(client_id)
    if account is None or account.seller["credentials"]["api_key"] != api_key:
        return errors.invalid_api_key()
    return client_id, account


def endpoint(group: L.MethodGroup | None = None) -> Callable[[Handler], Route]:
    """Wrap a handler `(request, account, body)`; `group` is the method's own limit, if it has one."""

    def wrap(handler: Handler) -> Route:
        @wraps(handler)
        async def run(request: web.Request) -> web.Response:
            auth = _authenticate(request)
            if isinstance(auth, web.Response):
                return auth
            client_id, account = auth
            state = sandbox_state(request)
            bucket = f"ozon:{client_id}"
            decisions = [state.buckets.take(bucket, L.ACCOUNT_GROUP, L.ACCOUNT)]
            # A call refused account-wide never reaches the method, so it spends none of its quota.
            if group is not None and decisions[0].allowed:
                decisions.append(state.buckets.take(bucket, group.name, group.limit))
            refused = next((d for d in decisions if not d.allowed), None)
            if refused is not None:
                return errors.too_many_requests(refused.retry_after, state.switches.time_scale)
            body = await read_json(request)
            if not isinstance(body, dict):
                response = errors.invalid("invalid request body: expected a JSON object")
            else:
                try:
                    response = await handler(request, account, body)
                except BadRequest as exc:
                    response = errors.invalid(str(exc))
                except NotFound as exc:
                    response = errors.not_found(str(exc) or "Not found")
            response.headers["Ratelimit-Remaining"] = str(min(d.remaining for d in decisions))
            return response

        return run

    return wrap
