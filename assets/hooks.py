"""Hooks on every step of the sync job."""

from __future__ import annotations

import sentry_sdk
from dagster import HookContext, failure_hook

from resources.sentry import tag_tenant


@failure_hook(name="report_failure_to_sentry")
def report_failure(context: HookContext) -> None:
    """A step failed for good (after its retries): one Sentry event, tagged with tenant and tier.
    Dagster catches step errors itself, so without this Sentry would never see them."""
    # HookContext has the run's id, not the run (an attribute lookup of `.run` raised here).
    run = context.instance.get_run_by_id(context.run_id)
    tags = run.tags if run is not None else {}
    with sentry_sdk.new_scope():
        tag_tenant(tags.get("tenant"), tags.get("tier"))
        sentry_sdk.set_tag("step", context.step_key)
        if context.op_exception is not None:
            sentry_sdk.capture_exception(context.op_exception)
        else:
            sentry_sdk.capture_message(f"sync step {context.step_key} failed", level="error")
