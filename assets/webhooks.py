"""Outgoing webhooks are sent by Dagster, never inside an API request: this sensor sends what is
due (new events after each sync, retries whose backoff has passed) every 30 seconds."""

from __future__ import annotations

from dagster import DefaultSensorStatus, SensorEvaluationContext, SkipReason, sensor

from resources.webhook_sender import WebhookSender


@sensor(
    name="outgoing_webhooks",
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Sends sellers' webhooks (sync.completed, sync.failed, stock.low) and their retries.",
)
def outgoing_webhooks(context: SensorEvaluationContext, webhooks: WebhookSender) -> SkipReason:
    report = webhooks.deliver_due()
    return SkipReason(f"{report.delivered} delivered, {report.failed} to retry or failed")
