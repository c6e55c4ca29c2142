"""Sends the queued outgoing webhooks (warehouse/webhooks.py), signed like Stripe's:
`Stock-Tracker-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">` with the endpoint's secret.

One attempt per due delivery per call, 5 s timeout, no redirects followed; the retry schedule
lives in the database, so a crash between attempts loses nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from dagster import ConfigurableResource

from warehouse.app_db import session_factory
from warehouse.vault import CredentialVault
from warehouse.webhooks import due, record_attempt, safe_target

TIMEOUT_SECONDS = 5.0
SIGNATURE_HEADER = "Stock-Tracker-Signature"


def signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


@dataclass(frozen=True)
class SendReport:
    delivered: int
    failed: int


class WebhookSender(ConfigurableResource):
    app_database_url: str
    # Where the Fernet keys are (the endpoint secrets are encrypted with them), never the keys.
    keys_env: str = "STOCK_TRACKER_ENCRYPTION_KEYS"
    keys_file: str = ""
    # In development loopback receivers are allowed (the seller's own test server).
    production: bool = False

    def _vault(self) -> CredentialVault:
        raw = os.environ.get(self.keys_env) or (Path(self.keys_file).read_text() if self.keys_file else "")
        return CredentialVault([k.strip() for k in raw.split(",") if k.strip()])

    def deliver_due(self, limit: int = 100) -> SendReport:
        vault = self._vault()
        delivered = failed = 0
        with session_factory(self.app_database_url)() as session, requests.Session() as http:
            for item in due(session, limit=limit):
                ok, status, error = self._send(http, vault, item.url, item.secret_token, item.body)
                record_attempt(session, item.id, ok=ok, status_code=status, error=error)
                delivered += ok
                failed += not ok
        return SendReport(delivered, failed)

    def _send(
        self, http: requests.Session, vault: CredentialVault, url: str, secret_token: str, body: str
    ) -> tuple[bool, int | None, str | None]:
        if not safe_target(url, production=self.production):
            return False, None, "target address not allowed"
        payload = body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Stock-Tracker-Webhooks/1",
            SIGNATURE_HEADER: signature(vault.decrypt(secret_token)["secret"], payload),
        }
        try:
            answer = http.post(
                url, data=payload, headers=headers, timeout=TIMEOUT_SECONDS, allow_redirects=False
            )
        except requests.RequestException as exc:
            return False, None, type(exc).__name__
        if 200 <= answer.status_code < 300:
            return True, answer.status_code, None
        return False, answer.status_code, f"HTTP {answer.status_code}"
