"""Stripe's HTTP surface under `/stripe` (Stripe's `https://api.stripe.com`), its hosted pages, and
the control calls that move its clock and replay webhook events."""

from __future__ import annotations

import asyncio
import hashlib
import html
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from sandbox.http import json_response, read_json
from sandbox.stripe import errors
from sandbox.stripe.errors import StripeError
from sandbox.stripe.forms import parse_form
from sandbox.stripe.model import StripeSandbox

STRIPE_KEY = web.AppKey("stripe", StripeSandbox)
PREFIX = "/stripe"
Handler = Callable[[web.Request, StripeSandbox, dict[str, Any]], Any]


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}{PREFIX}"


def _api_key(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    key = auth[7:] if auth.startswith("Bearer ") else ""
    # Any test-mode secret key is accepted: the sandbox has one account.
    return key if key.startswith(("sk_test_", "rk_test_")) else None


def endpoint(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Auth, form parsing, Stripe's error shape and `Idempotency-Key` replay around a handler."""

    async def wrapped(request: web.Request) -> web.Response:
        stripe = request.app[STRIPE_KEY]
        key = _api_key(request)
        if key is None:
            return errors.StripeErrors().unauthorized(request.path)
        raw = (await request.read()).decode() if request.method == "POST" else request.query_string
        params = parse_form(raw)
        idem = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        fingerprint = hashlib.sha256(f"{request.path}?{raw}".encode()).hexdigest()
        if idem and (key, idem) in stripe.idempotent:
            seen, status, body = stripe.idempotent[(key, idem)]
            if seen != fingerprint:
                return errors.stripe_error_response(
                    400,
                    {
                        "type": "idempotency_error",
                        "message": "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with.",
                    },
                )
            return web.Response(
                body=body,
                status=status,
                content_type="application/json",
                headers={"Idempotent-Replayed": "true"},
            )
        try:
            result = handler(request, stripe, params)
            response = json_response(_wire(result))
        except StripeError as exc:
            response = exc.response()
        if idem:
            assert isinstance(response.body, bytes)
            stripe.idempotent[(key, idem)] = (fingerprint, response.status, response.body)
        return response

    return wrapped


def _wire(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


def _list(request: web.Request, items: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    items = sorted(items, key=lambda o: o.get("created", 0), reverse=True)
    after = params.get("starting_after")
    if after:
        ids = [o["id"] for o in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    limit = max(1, min(100, int(params.get("limit") or 10)))
    return {
        "object": "list",
        "data": items[:limit],
        "has_more": len(items) > limit,
        "url": request.path.removeprefix(PREFIX),
    }


# --- API --------------------------------------------------------------------------------------------


def create_product(request: web.Request, s: StripeSandbox, p: dict[str, Any]) -> Any:
    return s.create_product(p)


def list_products(request: web.Request, s: StripeSandbox, p: dict[str, Any]) -> Any:
    return _list(request, s.of_kind("product"), p)


def get_object(kind: str) -> Handler:
    def handler(request: web.Request, s: StripeSandbox, p: dict[str, Any]) -> Any:
        return s.get(kind, request.match_info["id"])

    return handler


def create_price(request: web.Request, s: StripeSandbox, p: dict[str, Any]) -> Any:
    return s.create_price(p)


def list_prices(request: web.Request, s: StripeSandbox, p: dict[str, Any]) -> Any:
    prices = s.of_kind("price")
    if p.get("lookup_keys"):
        keys = p["lookup_keys"] if isinstance(p["lookup_keys"], list) else [p["lookup_keys"]]
        prices = [x for x in prices if x.get("lookup_key") in keys]
    if p.get("product"):
        prices = [x for x in prices if x["product"] == p["product"]]
    if "active" in p:
        prices = [x for x in prices if x["active"] == (p["active"] == "true")]
    return _list(request, prices, p)


def create_customer(request: web.Request, s: StripeSandbox, p: dict[str, Any]) -> Any:
    return s.create_customer(p)


def update_customer(request: web.Request, s: StripeSandbox, p: dict[str, Any]) -> Any:
    customer = s.get("customer", request.match_info["id"])
    for field in ("email", "name"):
        if field in p:
            customer[field] = p[field]
    if isinstance(p.get("metadata"), dict):
        customer["metadata"].update(p["metadata"])
    return customer


def list_customers(request: web.Request, s: StripeSandbox, p: dict[str, Any]) -> Any:
    found = s.of_kind("customer")
    if p.get("email"):
        found = [c for c in found if c.get("email") == p["email"]]
    return _list(request, found, p)


def create_checkout_session(request: web.Request, s: StripeSandbox, p: dict[str, Any]) -> Any:
    return s.create_checkout_session(p, _base_url(request))


def create_portal_session(request: web.Request, s: StripeSandbox, p: dict[str, Any]) -> Any:
    return s.create_portal_session(p, _base_url(request))


def list_subscriptions(request: web.Request, s: StripeSandbox, p: dict[str, Any]) -> Any:
    subs = s.of_kind("subscription")
    if p.get("customer"):
        subs = [x for x in subs if x["customer"] == p["customer"]]
    status = p.get("status")
    if status and status != "all":
        subs = [x for x in subs if x["status"] == status]
    elif not status:
        subs = [x for x in subs if x["status"] != "canceled"]  # Stripe's default hides canceled ones
    return _list(request, subs, p)


def update_subscription(request: web.Request, s: StripeSandbox, p: dict[str, Any]) -> Any:
    return s.update_subscription(s.get("subscription", request.match_info["id"]), p)


def cancel_subscription(request: web.Request, s: StripeSandbox, p: dict[str, Any]) -> Any:
    return s.cancel_now(s.get("subscription", request.match_info["id"]))


def list_invoices(request: web.Request, s: StripeSandbox, p: dict[str, Any]) -> Any:
    found = s.of_kind("invoice")
    for field in ("customer", "subscription"):
        if p.get(field):
            found = [x for x in found if x[field] == p[field]]
    return _list(request, found, p)


def list_events(request: web.Request, s: StripeSandbox, p: dict[str, Any]) -> Any:
    found = s.events
    if p.get("type"):
        found = [e for e in found if e["type"] == p["type"]]
    return _list(request, list(found), p)


def get_event(request: web.Request, s: StripeSandbox, p: dict[str, Any]) -> Any:
    found = next((e for e in s.events if e["id"] == request.match_info["id"]), None)
    if found is None:
        raise errors.missing("event", request.match_info["id"])
    return found


# --- hosted pages -------------------------------------------------------------------------------------

PAGE = """<!doctype html><html lang="en"><meta charset="utf-8"><title>{title}</title>
<body><h1>{title}</h1><p>{text}</p>{form}</body></html>"""


def _page(title: str, text: str, form: str = "", status: int = 200) -> web.Response:
    return web.Response(
        text=PAGE.format(title=html.escape(title), text=html.escape(text), form=form),
        status=status,
        content_type="text/html",
    )


async def checkout_page(request: web.Request) -> web.Response:
    s = request.app[STRIPE_KEY]
    session = s.objects.get(request.match_info["id"])
    if session is None or session["object"] != "checkout.session":
        return _page("Checkout", "This checkout session does not exist.", status=404)
    if request.method == "GET":
        form = (
            '<form method="post"><input name="card" placeholder="4242 4242 4242 4242">'
            "<button>Pay</button></form>"
        )
        return _page("Checkout", f"Subscribe ({len(session['_line_items'])} item)", form)
    data = await request.post()
    card = str(data.get("card", "")).replace(" ", "")
    try:
        s.pay_checkout(session, card)
    except StripeError as exc:
        return _page("Checkout", exc.message, status=exc.status)
    target = str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session["id"])
    raise web.HTTPSeeOther(target)


async def portal_page(request: web.Request) -> web.Response:
    s = request.app[STRIPE_KEY]
    session = s.objects.get(request.match_info["id"])
    if session is None or session["object"] != "billing_portal.session":
        return _page("Billing portal", "This portal session does not exist.", status=404)
    return _page("Billing portal", f"Subscriptions and invoices of {session['customer']}.")


# --- control -------------------------------------------------------------------------------------------


async def control_advance(request: web.Request) -> web.Response:
    """`POST /_control/stripe/advance {"seconds" | "days"}`: the clock moves; trials end, periods renew."""
    body = await read_json(request)
    if not isinstance(body, dict):
        return json_response({"error": "invalid_body", "message": "a JSON object"}, 400)
    try:
        seconds = float(body.get("seconds", 0)) + float(body.get("days", 0)) * 86_400
    except (TypeError, ValueError):
        return json_response({"error": "invalid_body", "message": "seconds and days are numbers"}, 400)
    if seconds < 0:
        return json_response({"error": "invalid_body", "message": "the clock only moves forward"}, 400)
    s = request.app[STRIPE_KEY]
    return json_response({"now": s.now() + int(seconds), "events": s.advance(seconds)})


async def control_deliver(request: web.Request) -> web.Response:
    """`POST /_control/stripe/deliver {"events": [ids], "times": 1}`: deliver these events again, in
    the order given (out of order, or twice), as Stripe does after retries."""
    body = await read_json(request)
    s = request.app[STRIPE_KEY]
    ids = body.get("events") if isinstance(body, dict) else None
    if not isinstance(ids, list):
        return json_response({"error": "invalid_body", "message": "events: a list of event ids"}, 400)
    by_id = {e["id"]: e for e in s.events}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        return json_response({"error": "unknown_events", "message": ", ".join(map(str, unknown))}, 404)
    for _ in range(int(body.get("times", 1))):
        s.outbox.extend(by_id[i] for i in ids)
    return json_response({"queued": len(ids)})


async def control_hold(request: web.Request) -> web.Response:
    """`POST /_control/stripe/forwarding {"url": …|null}`: where events go (null holds them)."""
    body = await read_json(request)
    s = request.app[STRIPE_KEY]
    if isinstance(body, dict) and "url" in body:
        s.forward_to = body["url"]
    return json_response({"url": s.forward_to})


async def control_state(request: web.Request) -> web.Response:
    s = request.app[STRIPE_KEY]
    return json_response(
        {
            "now": s.now(),
            "events": [{"id": e["id"], "type": e["type"], "created": e["created"]} for e in s.events],
            "pending": len(s.outbox),
            "deliveries": s.deliveries,
        }
    )


def register(app: web.Application, stripe: StripeSandbox | None = None) -> None:
    from sandbox.server import ERRORS_KEY

    app[ERRORS_KEY]["stripe"] = errors.StripeErrors()
    app[STRIPE_KEY] = stripe or StripeSandbox()
    v1 = PREFIX + "/v1"
    routes: list[tuple[str, str, Handler]] = [
        ("POST", "/products", create_product),
        ("GET", "/products", list_products),
        ("GET", "/products/{id}", get_object("product")),
        ("POST", "/prices", create_price),
        ("GET", "/prices", list_prices),
        ("GET", "/prices/{id}", get_object("price")),
        ("POST", "/customers", create_customer),
        ("GET", "/customers", list_customers),
        ("GET", "/customers/{id}", get_object("customer")),
        ("POST", "/customers/{id}", update_customer),
        ("POST", "/checkout/sessions", create_checkout_session),
        ("GET", "/checkout/sessions/{id}", get_object("checkout.session")),
        ("POST", "/billing_portal/sessions", create_portal_session),
        ("GET", "/subscriptions", list_subscriptions),
        ("GET", "/subscriptions/{id}", get_object("subscription")),
        ("POST", "/subscriptions/{id}", update_subscription),
        ("DELETE", "/subscriptions/{id}", cancel_subscription),
        ("GET", "/invoices", list_invoices),
        ("GET", "/invoices/{id}", get_object("invoice")),
        ("GET", "/events", list_events),
        ("GET", "/events/{id}", get_event),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, v1 + path, endpoint(handler))
    app.router.add_route("*", PREFIX + "/pay/{id}", checkout_page)
    app.router.add_get(PREFIX + "/portal/{id}", portal_page)
    app.router.add_post("/_control/stripe/advance", control_advance)
    app.router.add_post("/_control/stripe/deliver", control_deliver)
    app.router.add_route("*", "/_control/stripe/forwarding", control_hold)
    app.router.add_get("/_control/stripe", control_state)

    async def start_delivery(app: web.Application) -> Any:
        from sandbox.server import STATE_KEY
        from sandbox.stripe.delivery import deliver_forever

        task = asyncio.create_task(deliver_forever(app[STRIPE_KEY], app[STATE_KEY].switches.time_scale))
        yield
        task.cancel()

    app.cleanup_ctx.append(start_delivery)
