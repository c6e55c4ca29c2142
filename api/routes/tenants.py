"""The signed-in user's seller account: its settings and its users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from api.deps import CurrentUser, EditorUser, OwnerUser, TenantSessionDep
from api.errors import ApiError, responses
from api.models import RoleUpdate, TenantOut, TenantUpdate, UserCreate, UserOut
from api.routes import API_PREFIX
from api.security import hash_password
from api.views import tenant_view, user_view
from warehouse import tenants, users

router = APIRouter(prefix=f"{API_PREFIX}/tenants/me", tags=["tenant"])
UserId = Annotated[int, Path(ge=1, le=2_147_483_647)]


@router.get("", responses=responses(401, 403, 429))
async def read_tenant(principal: CurrentUser) -> TenantOut:
    """Settings, plan and trial of your seller account."""
    # async: read with the sign-in check already, so no second trip to the thread pool.
    return tenant_view(principal.tenant, principal.subscription)


@router.patch("", responses=responses(400, 401, 403, 422, 429))
def update_tenant(body: TenantUpdate, principal: EditorUser, session: TenantSessionDep) -> TenantOut:
    """Change settings (owners and admins); fields left out stay as they are."""
    changes = body.model_dump(exclude_unset=True)
    for required in ("name", "locale", "timezone", "orders_window_days", "low_stock_days"):
        if required in changes and changes[required] is None:
            raise ApiError(422, "invalid_setting", reason=f"{required} cannot be empty")
    try:
        tenant = tenants.update_settings(session, principal.tenant_id, **changes)
    except ValueError as exc:
        raise ApiError(422, "invalid_setting", reason=str(exc)) from None
    return tenant_view(tenant, principal.subscription)


@router.get("/users", responses=responses(401, 403, 429))
def list_users(principal: CurrentUser, session: TenantSessionDep) -> list[UserOut]:
    """Everyone with access to your seller account."""
    return [user_view(u) for u in users.list_users(session, principal.tenant_id)]


@router.post("/users", status_code=status.HTTP_201_CREATED, responses=responses(400, 401, 403, 409, 422, 429))
def add_user(body: UserCreate, principal: OwnerUser, session: TenantSessionDep) -> UserOut:
    """Give someone access with an initial password (owners only)."""
    try:
        user = users.add_user(
            session,
            principal.tenant_id,
            email=body.email,
            password_hash=hash_password(body.password),
            role=body.role,
        )
    except users.EmailTaken:
        raise ApiError(409, "email_taken") from None
    except ValueError:
        raise ApiError(422, "invalid_email") from None
    return user_view(user)


@router.patch("/users/{user_id}", responses=responses(400, 401, 403, 404, 409, 422, 429))
def change_role(
    user_id: UserId, body: RoleUpdate, principal: OwnerUser, session: TenantSessionDep
) -> UserOut:
    """Change a user's role (owners only); the account keeps at least one owner."""
    try:
        return user_view(users.set_role(session, principal.tenant_id, user_id, body.role))
    except users.LastOwner:
        raise ApiError(409, "last_owner") from None
    except LookupError:
        raise ApiError(404, "user_not_found") from None


@router.delete(
    "/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(401, 403, 404, 409, 429)
)
def remove_user(user_id: UserId, principal: OwnerUser, session: TenantSessionDep) -> Response:
    """Take a user's access away (owners only); the account keeps at least one owner."""
    try:
        users.remove_user(session, principal.tenant_id, user_id)
    except users.LastOwner:
        raise ApiError(409, "last_owner") from None
    except LookupError:
        raise ApiError(404, "user_not_found") from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)
