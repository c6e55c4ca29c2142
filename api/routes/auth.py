"""Sign-up, sign-in, token refresh (rotating, single-use), sign-out and the current user."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Response, status

from api.deps import (
    BEARER_CHALLENGE,
    BearerToken,
    LimitsDep,
    SessionDep,
    SettingsDep,
    access_claims,
    limit_auth_by_ip,
    token_lifetimes,
)
from api.errors import ApiError, responses
from api.login_body import LoginBody, openapi_request_body
from api.models import LogoutRequest, MeOut, RefreshRequest, RegisterRequest, TokenPair
from api.principal_cache import CachedReader
from api.routes import API_PREFIX
from api.security import TokenError, decode_token, encode_token, hash_password, verify_password
from api.views import user_view
from settings import Settings
from warehouse import auth_tokens, users
from warehouse.auth_tokens import SpendResult
from warehouse.models import User

log = logging.getLogger("stock_tracker.api")
router = APIRouter(prefix=f"{API_PREFIX}/auth", tags=["auth"])
limited = [Depends(limit_auth_by_ip)]

# OpenAPI links (the document's own map of what follows what): a new account signs in with the
# email and password it was made with, and any token pair refreshes with its refresh token. Clients
# and stateful fuzzers (Schemathesis) follow them: register → login → refresh → use.
_REFRESH_LINK = {
    "operationId": "refresh_api_v1_auth_refresh_post",
    "requestBody": {"refresh_token": "$response.body#/refresh_token"},
    "description": "A new token pair for this pair's refresh token.",
}
_ME_LINK = {
    "operationId": "me_api_v1_auth_me_get",
    "description": "Who is signed in, with `Authorization: Bearer <access_token>` of this pair.",
}
TOKEN_LINKS: dict[str, Any] = {"Refresh": _REFRESH_LINK, "Me": _ME_LINK}
REGISTER_LINKS: dict[str, Any] = {
    "Login": {
        "operationId": "login_api_v1_auth_login_post",
        "requestBody": {"email": "$request.body#/email", "password": "$request.body#/password"},
        "description": "Sign in with the email and password the account was made with.",
    },
    **TOKEN_LINKS,
}


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    dependencies=limited,
    responses={201: {"links": REGISTER_LINKS}, **responses(400, 409, 422, 429)},
)
def register(body: RegisterRequest, session: SessionDep, settings: SettingsDep) -> TokenPair:
    """A new seller account (tenant) with you as its owner, on a 14-day trial of the starter tier.
    Without `tenant_name` the account is named after your email (the part before @)."""
    try:
        made = users.register(
            session,
            email=body.email,
            password_hash=hash_password(body.password),
            tenant_name=body.tenant_name,
            locale=body.locale,
            telegram_id=body.telegram_id,
        )
    except users.EmailTaken:
        raise ApiError(409, "email_taken") from None
    except ValueError as exc:
        raise ApiError(422, "invalid_setting", reason=str(exc)) from None
    log.info("tenant registered", extra={"fields": {"tenant_id": made.tenant.id, "user_id": made.user.id}})
    return _sign_in(session, settings, made.user)


@router.post(
    "/login",
    dependencies=limited,
    responses={200: {"links": TOKEN_LINKS}, **responses(400, 401, 422, 429)},
    openapi_extra={"requestBody": openapi_request_body()},
)
def login(body: LoginBody, session: SessionDep, settings: SettingsDep, limits: LimitsDep) -> TokenPair:
    """Email and password for an access token (15 min) and a refresh token (30 days). JSON with
    `email` or `username`, or an OAuth2 password form (`username`, `password`, `grant_type`).
    After too many failed sign-ins to one account it is locked for a while (429 `account_locked`)."""
    limits.refuse_locked_account(body.login_email)
    user = users.get_user_by_email(session, body.login_email)
    valid, new_hash = verify_password(body.password, user.password_hash if user else None)
    if user is None or not valid:
        limits.failed_sign_in(body.login_email)
        raise ApiError(401, "invalid_credentials")
    if new_hash is not None:  # an imported bcrypt hash: keep it as Argon2 from now on
        users.set_password_hash(session, user, new_hash)
    return _sign_in(session, settings, user)


@router.post(
    "/refresh", dependencies=limited, responses={200: {"links": TOKEN_LINKS}, **responses(400, 401, 422, 429)}
)
def refresh(body: RefreshRequest, session: SessionDep, settings: SettingsDep) -> TokenPair:
    """A new token pair for a refresh token, which is spent. Presenting a spent one again ends the
    whole sign-in: every token it produced stops working."""
    try:
        claims = decode_token(settings.jwt_secret, body.refresh_token, kind="refresh")
    except TokenError as exc:
        raise ApiError(401, exc.code) from None
    spent = auth_tokens.spend(session, claims.jti)
    if spent.result is SpendResult.REUSED:
        log.warning(
            "refresh token reused: sign-in revoked",
            extra={"fields": {"tenant_id": spent.tenant_id, "user_id": spent.user_id}},
        )
        raise ApiError(401, "refresh_token_reused")
    if spent.result is not SpendResult.OK:
        code = {SpendResult.EXPIRED: "token_expired", SpendResult.REVOKED: "session_revoked"}
        raise ApiError(401, code.get(spent.result, "invalid_token"))
    user = users.get_user(session, str(spent.tenant_id), int(spent.user_id or 0))
    if user is None:
        raise ApiError(401, "invalid_token")
    return _issue(session, settings, user, str(spent.family_id))


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=limited,
    responses=responses(400, 401, 422, 429),
    # Either credential ends the sign-in: the Bearer token is optional when a refresh token is sent.
    openapi_extra={"security": [{"OAuth2": []}, {}]},
)
def logout(
    session: SessionDep, settings: SettingsDep, token: BearerToken, body: LogoutRequest | None = None
) -> Response:
    """End this sign-in: its refresh token and the access tokens issued with it stop working. Send
    the refresh token in the body, or only the access token as `Authorization: Bearer …`."""
    if body is not None and body.refresh_token is not None:
        _end_by_refresh_token(session, settings, body.refresh_token)
    else:
        claims = access_claims(settings, token)
        if auth_tokens.revoke_family(session, claims.family_id, user_id=claims.user_id) == 0:
            raise ApiError(401, "session_revoked", headers=BEARER_CHALLENGE)  # already ended
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", responses=responses(401, 403, 429))
async def me(principal: CachedReader) -> MeOut:
    """The signed-in user and their seller account."""
    # The cached sign-in check (api/principal_cache.py: revocation within 5 s, writes through this
    # process drop the tenant's entries) carries this answer: CurrentUser's three statements and
    # thread hop were 2.5 ms of worker CPU, a third of bench/bench_load.py's mix.
    return principal.me


def _end_by_refresh_token(session: SessionDep, settings: Settings, refresh_token: str) -> None:
    try:
        claims = decode_token(settings.jwt_secret, refresh_token, kind="refresh")
    except TokenError as exc:
        if exc.code != "token_expired":
            raise ApiError(401, exc.code) from None
        return  # already over
    auth_tokens.revoke_family(session, claims.family_id, user_id=claims.user_id)


def _sign_in(session: SessionDep, settings: Settings, user: User) -> TokenPair:
    return _issue(session, settings, user, None)


def _issue(session: SessionDep, settings: Settings, user: User, family_id: str | None) -> TokenPair:
    access_ttl, refresh_ttl = token_lifetimes(settings)
    row = auth_tokens.issue(
        session, user_id=user.id, tenant_id=user.tenant_id, ttl=refresh_ttl, family_id=family_id
    )
    ids = {"user_id": user.id, "tenant_id": user.tenant_id, "family_id": row.family_id}
    access, _ = encode_token(settings.jwt_secret, kind="access", ttl=access_ttl, **ids)
    refresh_token, _ = encode_token(settings.jwt_secret, kind="refresh", ttl=refresh_ttl, jti=row.jti, **ids)
    return TokenPair(
        access_token=access,
        refresh_token=refresh_token,
        expires_in=int(access_ttl.total_seconds()),
        refresh_expires_in=int(refresh_ttl.total_seconds()),
        user=user_view(user),
    )
