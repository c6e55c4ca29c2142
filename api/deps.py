"""Dependencies, declared once as `Annotated` aliases and reused by every router.

* `SettingsDep` — the app's one Settings object.
* `SessionDep` — an app-database session with no tenant (sign-up, sign-in, health).
* `BearerToken` — the `Authorization: Bearer` token if any (the OpenAPI scheme is OAuth2's password
  flow, so Swagger UI's Authorize button signs in at /api/v1/auth/login).
* `CurrentUser` — the signed-in user and tenant, from a valid access token of a live sign-in;
  counts the request against the tenant's rate limit.
* `TenantSessionDep` — the request's session scoped to that tenant (row-level security on
  PostgreSQL, warehouse/tenant_scope.py).
* `EditorUser` / `OwnerUser` — owners and admins may change things, viewers only read; only
  owners manage users (and billing).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from api import quota
from api.dagster_client import DagsterClient
from api.errors import ApiError
from api.rate_limit import RateLimits
from api.routes import API_PREFIX
from api.security import TokenClaims, TokenError, decode_token
from settings import Settings
from warehouse import users
from warehouse.app_db import session_factory
from warehouse.models import Subscription, Tenant, User
from warehouse.tenant_scope import tenant_session

# OAuth2 password flow, so Swagger UI's Authorize button signs in with email and password; any
# client may as well send the access token from the login answer as `Authorization: Bearer …`.
oauth2 = OAuth2PasswordBearer(
    tokenUrl=f"{API_PREFIX}/auth/login",
    scheme_name="OAuth2",
    auto_error=False,
    description="Sign in with your email and password, or send the access token from "
    f"{API_PREFIX}/auth/login as `Authorization: Bearer …`.",
)
BEARER_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_limits(request: Request) -> RateLimits:
    return request.app.state.limits


LimitsDep = Annotated[RateLimits, Depends(get_limits)]


async def get_dagster(request: Request) -> DagsterClient:
    return request.app.state.dagster


DagsterDep = Annotated[DagsterClient, Depends(get_dagster)]


# The session dependencies are async generators on purpose: FastAPI runs a sync generator's
# clean-up in the thread pool, and under load every pool thread can be a new request waiting for a
# database connection while the connections are held by finished requests waiting for a thread to
# close their session: a deadlock (found by bench/bench_load.py). Closing on the event loop needs
# no thread; it is one quick ROLLBACK that hands the connection back to the pool.
async def get_session(settings: SettingsDep) -> AsyncIterator[Session]:
    with session_factory(settings.app_database_url)() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def client_ip(request: Request) -> str:
    # Behind a proxy, uvicorn's --proxy-headers puts the forwarded client address here.
    return request.client.host if request.client else "unknown"


def limit_auth_by_ip(request: Request, limits: LimitsDep) -> None:
    limits.hit_exact(limits.auth, "auth", client_ip(request))


BearerToken = Annotated[str | None, Security(oauth2)]


# Access tokens verified before, by their exact text: checking the signature again on every
# request of a polling client was a tenth of the product list's time. Expiry is checked on
# every use; the secret is part of the key, so rotating it invalidates every entry.
_verified: dict[tuple[str, str], TokenClaims] = {}
_VERIFIED_MAX = 20_000


def access_claims(settings: Settings, token: str | None) -> TokenClaims:
    """The claims of a valid access token; 401 with a Bearer challenge otherwise."""
    if not token:
        raise ApiError(401, "not_authenticated", headers=BEARER_CHALLENGE)
    key = (settings.jwt_secret, token)
    claims = _verified.get(key)
    if claims is not None:
        if claims.expires_at > datetime.now(UTC):
            return claims
        _verified.pop(key, None)
        raise ApiError(401, "token_expired", headers=BEARER_CHALLENGE)
    try:
        claims = decode_token(settings.jwt_secret, token, kind="access")
    except TokenError as exc:
        raise ApiError(401, exc.code, headers=BEARER_CHALLENGE) from None
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[key] = claims
    return claims


async def get_claims(settings: SettingsDep, token: BearerToken) -> TokenClaims:
    # async: no I/O here, so it runs on the event loop instead of costing a thread hop.
    return access_claims(settings, token)


ClaimsDep = Annotated[TokenClaims, Depends(get_claims)]


async def get_tenant_session(settings: SettingsDep, claims: ClaimsDep) -> AsyncIterator[Session]:
    with tenant_session(settings.app_database_url, claims.tenant_id) as session:
        yield session


TenantSessionDep = Annotated[Session, Depends(get_tenant_session)]


@dataclass(frozen=True)
class Principal:
    user: User
    tenant: Tenant
    family_id: str
    subscription: Subscription | None  # read with the user: the plan's gate, the answers' subscription

    @property
    def tenant_id(self) -> str:
        return self.tenant.id


def get_current_user(
    request: Request, session: TenantSessionDep, claims: ClaimsDep, limits: LimitsDep
) -> Principal:
    limits.hit(limits.tenant, "tenant", claims.tenant_id)  # here: a shared (Redis) counter blocks
    found = users.signed_in(session, claims.tenant_id, claims.user_id, claims.family_id)
    if found is None or found[1].status == "deleted":
        raise ApiError(401, "invalid_token", headers=BEARER_CHALLENGE)
    user, tenant, revoked, subscription = found
    if revoked:
        raise ApiError(401, "session_revoked", headers=BEARER_CHALLENGE)
    state = request.scope.setdefault("state", {})
    state.update(locale=tenant.locale, tenant_id=tenant.id, tier=tenant.tier, user_id=user.id)
    if tenant.status != "active":
        raise ApiError(403, "tenant_inactive")
    # The plan's monthly API calls; read-only when unpaid.
    quota.enforce(request, session, tenant, subscription)
    return Principal(user, tenant, claims.family_id, subscription)


CurrentUser = Annotated[Principal, Depends(get_current_user)]

EDITORS = ("owner", "admin")


# async: a role check does no I/O, and a sync dependency costs a trip to the thread pool.
async def require_editor(principal: CurrentUser) -> Principal:
    if principal.user.role not in EDITORS:
        raise ApiError(403, "forbidden_role", roles="owner, admin")
    return principal


async def require_owner(principal: CurrentUser) -> Principal:
    if principal.user.role != "owner":
        raise ApiError(403, "forbidden_role", roles="owner")
    return principal


EditorUser = Annotated[Principal, Depends(require_editor)]
OwnerUser = Annotated[Principal, Depends(require_owner)]


def token_lifetimes(settings: Settings) -> tuple[timedelta, timedelta]:
    return timedelta(minutes=settings.access_token_minutes), timedelta(days=settings.refresh_token_days)
