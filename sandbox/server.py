"""The sandbox HTTP server: every service on one port, one path prefix per real host.

A middleware in front of all services logs each request and applies injected faults with the
service's own error shapes; `/_control/*` drives scenarios, switches, faults and the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from dataclasses import asdict, fields
from typing import Any

import orjson
from aiohttp import web

from sandbox.faults import FaultRule
from sandbox.http import json_response, read_json
from sandbox.scenario import Scenario, ScenarioError, parse_scenario
from sandbox.services import SERVICES, ErrorFamily, Service, base_urls, public_path, split_path
from sandbox.state import SandboxState, Switches
from sandbox.stripe.model import StripeSandbox
from sandbox.telegram.model import TelegramSandbox

STATE_KEY = web.AppKey("state", SandboxState)
ERRORS_KEY = web.AppKey("errors", dict)
SERVICE_KEY = web.RequestKey("service", Service)
SUB_PATH_KEY = web.RequestKey("sub_path", str)


def _abort_with_reset(request: web.Request) -> None:
    """Close the client's connection with a TCP RST, as a dropped upstream connection looks."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _apply_fault(
    request: web.Request, handler: Any, rule: FaultRule, errors: ErrorFamily
) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    scale = state.switches.time_scale
    kind = rule.kind
    if kind == "429":
        retry = rule.retry_after / scale
        return errors.rate_limited(retry, 1, retry, scale)
    if kind == "401":
        return errors.unauthorized(request.path)
    if kind in ("500", "502", "503"):
        return errors.server_error(int(kind))
    if kind == "delay":
        await asyncio.sleep(rule.delay)
        return await handler(request)
    if kind == "timeout":
        # Hold the request past any sane client timeout, then drop it without an answer.
        await asyncio.sleep(rule.delay)
        _abort_with_reset(request)
        return web.Response(status=504)
    if kind == "reset":
        await request.read()
        _abort_with_reset(request)
        return web.Response(status=502)
    response = await handler(request)
    body = response.body if isinstance(response, web.Response) else b""
    assert isinstance(body, bytes | bytearray)
    if kind == "malformed":
        return web.Response(
            body=bytes(body[: max(1, len(body) // 2)]) + b"<html>upstream error",
            status=response.status,
            content_type=response.content_type,
        )
    # truncated: announce the full length, send half, drop the connection.
    stream = web.StreamResponse(status=response.status, headers={"Content-Type": response.content_type})
    stream.content_length = len(body)
    await stream.prepare(request)
    with contextlib.suppress(ConnectionError, RuntimeError):
        await stream.write(bytes(body[: len(body) // 2]))
    _abort_with_reset(request)
    return stream


@web.middleware
async def gateway(request: web.Request, handler: Any) -> web.StreamResponse:
    service, sub_path = split_path(request.path)
    if service is None:
        return await handler(request)
    state = request.app[STATE_KEY]
    request[SERVICE_KEY] = service
    request[SUB_PATH_KEY] = sub_path
    sub_path = public_path(service, sub_path)
    rule = state.faults.pick(service.key, sub_path)
    status = 0
    try:
        if rule is not None:
            response = await _apply_fault(request, handler, rule, request.app[ERRORS_KEY][service.key])
        else:
            try:
                response = await handler(request)
            except web.HTTPNotFound:
                response = request.app[ERRORS_KEY][service.key].not_found(sub_path)
        # A dropped connection has no status; the log says 0 so counts of answers stay honest.
        status = 0 if rule is not None and rule.kind in ("reset", "timeout", "truncated") else response.status
        return response
    finally:
        state.log.record(service.key, request.method, sub_path, status, rule.kind if rule else None)


# --- control API ------------------------------------------------------------------------------


async def control_scenario(request: web.Request) -> web.Response:
    try:
        scenario = parse_scenario(await request.read())
        request.app[STATE_KEY].load(scenario)
    except (ScenarioError, ValueError) as exc:
        return json_response({"error": "invalid_scenario", "message": str(exc)}, 400)
    return json_response({"sellers": len(scenario["sellers"])})


async def control_settings(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    if request.method == "POST":
        body = await read_json(request)
        known = {f.name for f in fields(Switches)}
        if not isinstance(body, dict) or set(body) - known:
            return json_response(
                {
                    "error": "invalid_settings",
                    "message": f"settings are a JSON object with keys from {sorted(known)}",
                },
                400,
            )
        for key, value in body.items():
            if key == "time_scale":
                try:
                    state.set_time_scale(float(value))
                except (TypeError, ValueError) as exc:
                    return json_response({"error": "invalid_settings", "message": str(exc)}, 400)
            else:
                setattr(state.switches, key, value)
    return json_response(asdict(state.switches))


async def control_faults(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    if request.method == "DELETE":
        state.faults.clear()
    elif request.method == "POST":
        body = await read_json(request)
        try:
            rule = state.faults.add(
                FaultRule(
                    service=str(body.get("service", "*")),
                    endpoint=str(body.get("endpoint", "*")),
                    kind=body["kind"],
                    count=body.get("count"),
                    fraction=body.get("fraction"),
                    delay=float(body.get("delay", 30.0)),
                    retry_after=float(body.get("retry_after", 2.0)),
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            return json_response({"error": "invalid_fault", "message": str(exc)}, 400)
        return json_response(asdict(rule), 201)
    return json_response(state.faults.describe())


async def control_requests(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    if request.method == "DELETE":
        state.log.clear()
        return json_response([])
    since = request.query.get("since")
    return json_response(state.log.query(request.query.get("service"), float(since) if since else None))


async def control_reset_limits(request: web.Request) -> web.Response:
    request.app[STATE_KEY].buckets.reset()
    return json_response({"ok": True})


def build_app(
    state: SandboxState | None = None,
    stripe: StripeSandbox | None = None,
    telegram: TelegramSandbox | None = None,
) -> web.Application:
    from sandbox.ozon import routes as ozon_routes
    from sandbox.sheets import routes as sheets_routes
    from sandbox.stripe import routes as stripe_routes
    from sandbox.telegram import routes as telegram_routes
    from sandbox.wb import routes as wb_routes

    app = web.Application(middlewares=[gateway], client_max_size=256 * 1024**2)
    app[STATE_KEY] = state or SandboxState()
    app[ERRORS_KEY] = {}
    wb_routes.register(app)
    ozon_routes.register(app)
    sheets_routes.register(app)
    stripe_routes.register(app, stripe)
    telegram_routes.register(app, telegram)
    app.router.add_route("*", "/_control/settings", control_settings)
    app.router.add_post("/_control/scenario", control_scenario)
    app.router.add_route("*", "/_control/faults", control_faults)
    app.router.add_route("*", "/_control/requests", control_requests)
    app.router.add_post("/_control/reset-limits", control_reset_limits)
    missing = {s.key for s in SERVICES} - set(app[ERRORS_KEY])
    assert not missing, f"services without an error family: {missing}"
    return app


class SandboxServer:
    """The sandbox in a background thread of this process (tests, the demo, benchmarks)."""

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        time_scale: float = 1.0,
        stripe_forward_to: str | None = None,
    ) -> None:
        self.state = SandboxState()
        # Stripe's account: its clock, objects and webhook secret (events go to `stripe_forward_to`).
        self.stripe = StripeSandbox(forward_to=stripe_forward_to)
        # Telegram's bots, chats and outboxes (read them in-process or over /_control/telegram).
        self.telegram = TelegramSandbox()
        self.state.set_time_scale(time_scale)
        if scenario is not None:
            self.state.load(scenario)
        self.host, self.port = host, port
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="sandbox", daemon=True)

    @property
    def urls(self) -> dict[str, str]:
        return base_urls(self.host, self.port)

    @property
    def control_url(self) -> str:
        return f"http://{self.host}:{self.port}/_control"

    def start(self) -> SandboxServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    async def _start(self) -> None:
        self._runner = web.AppRunner(
            build_app(self.state, self.stripe, self.telegram), access_log=None, handler_cancellation=True
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        if sockets:
            self.port = sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_forever(
    scenario: Scenario | None,
    host: str,
    port: int,
    time_scale: float,
    announce: Any,
    stripe_forward_to: str | None = None,
) -> None:
    """Run until interrupted; `announce` gets the base URLs once the port is bound (and, when
    Stripe events are forwarded, `stripe_webhook_secret`, as `stripe listen` prints its secret)."""
    stripe = StripeSandbox(forward_to=stripe_forward_to)
    state = SandboxState()
    state.set_time_scale(time_scale)
    if scenario is not None:
        state.load(scenario)

    async def main() -> None:
        runner = web.AppRunner(build_app(state, stripe), access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1] if site._server else port  # type: ignore[union-attr]
        first_line: dict[str, str] = base_urls(host, bound)
        if stripe_forward_to:
            first_line["stripe_webhook_secret"] = stripe.webhook_secret
        announce(orjson.dumps(first_line).decode())
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
