"""App-database rows as API bodies (the only place that maps ORM objects to response models)."""

from __future__ import annotations

from api.models import CredentialStatusOut, MeOut, SubscriptionOut, SyncRunOut, TenantOut, UserOut
from warehouse.models import MARKETPLACES, Subscription, SyncRun, Tenant, User
from warehouse.tenants import CredentialStatus


def user_view(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        role=user.role,
        tenant_id=user.tenant_id,
        telegram_id=user.telegram_id,
        created_at=user.created_at,
    )


def tenant_view(tenant: Tenant, subscription: Subscription | None) -> TenantOut:
    """`subscription` is the tenant's, as read with the signed-in user (no query of its own)."""
    return TenantOut(
        id=tenant.id,
        name=tenant.name,
        tier=tenant.tier,
        status=tenant.status,
        spreadsheet_id=tenant.spreadsheet_id,
        telegram_chat_id=tenant.telegram_chat_id,
        locale=tenant.locale,
        timezone=tenant.timezone,
        orders_window_days=tenant.orders_window_days,
        low_stock_days=tenant.low_stock_days,
        created_at=tenant.created_at,
        subscription=SubscriptionOut(
            tier=subscription.tier,
            status=subscription.status,
            trial_ends_at=subscription.trial_ends_at,
            current_period_end=subscription.current_period_end,
        )
        if subscription
        else None,
    )


def me_view(user: User, tenant: Tenant, subscription: Subscription | None) -> MeOut:
    return MeOut(user=user_view(user), tenant=tenant_view(tenant, subscription))


def credentials_view(stored: list[CredentialStatus]) -> list[CredentialStatusOut]:
    """One entry per marketplace, connected or not."""
    by_marketplace = {s.marketplace: s for s in stored}
    out = []
    for marketplace in MARKETPLACES:
        status = by_marketplace.get(marketplace)
        if status is None:
            out.append(CredentialStatusOut(marketplace=marketplace, connected=False))
            continue
        out.append(credential_view(status))
    return out


def credential_view(status: CredentialStatus) -> CredentialStatusOut:
    return CredentialStatusOut(
        marketplace=status.marketplace,
        connected=True,
        fingerprint=status.fingerprint,
        status=status.status,
        valid={"valid": True, "invalid": False}.get(status.status),
        last_checked_at=status.last_checked_at,
        check_message=status.check_message,
        expires_at=status.expires_at,
        updated_at=status.updated_at,
    )


def sync_run_view(run: SyncRun) -> SyncRunOut:
    return SyncRunOut(
        id=run.run_id or str(run.id),
        status=run.status,
        trigger=run.trigger,
        tier=run.tier,
        started_at=run.started_at,
        finished_at=run.finished_at,
        error=run.error,
    )
