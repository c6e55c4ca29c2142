"""The one encryption helper: marketplace keys at rest under Fernet, rotated with MultiFernet.

Keys are listed newest first: the first encrypts, every one decrypts, so a new key can be
prepended while secrets written under the old one stay readable until `rotate` re-encrypts them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

# The key fields each marketplace needs (DESIGN §4): WB a token, Ozon a Client-Id + Api-Key.
CREDENTIAL_FIELDS: dict[str, tuple[str, ...]] = {
    "wildberries": ("token",),
    "ozon": ("client_id", "api_key"),
}


class VaultError(Exception):
    """The keys cannot do what was asked; the message never contains a key or a secret."""


def require_fields(marketplace: str, fields: Mapping[str, str]) -> dict[str, str]:
    """The marketplace's key fields, stripped (keys are pasted from cabinets with stray spaces)."""
    if marketplace not in CREDENTIAL_FIELDS:
        raise ValueError(f"unknown marketplace {marketplace!r}; one of {', '.join(CREDENTIAL_FIELDS)}")
    wanted = CREDENTIAL_FIELDS[marketplace]
    cleaned = {name: str(fields.get(name) or "").strip() for name in wanted}
    missing = [name for name, value in cleaned.items() if not value]
    if missing:
        raise ValueError(f"{marketplace} credentials need {', '.join(missing)}")
    unknown = sorted(set(fields) - set(wanted))
    if unknown:
        raise ValueError(f"{marketplace} credentials take no {', '.join(unknown)}")
    return cleaned


def fingerprint(marketplace: str, fields: Mapping[str, str]) -> str:
    """A short, non-reversible id of a key, safe to show: WB `ab12cd34ef56`, Ozon `<client id>/ab12cd34ef56`.

    The same recipe as the sources' `key_fingerprint` (first 12 hex of sha256), so a stored key can
    be matched with the account named in sync logs.
    """
    cleaned = require_fields(marketplace, fields)
    if marketplace == "ozon":
        # The Client-Id is not secret (it is printed in the seller cabinet) and tells keys apart.
        return f"{cleaned['client_id']}/{_digest(cleaned['api_key'])}"
    return _digest(cleaned["token"])


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


class CredentialVault:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise VaultError("no encryption keys configured; set STOCK_TRACKER_ENCRYPTION_KEYS")
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.strip()))
            except (ValueError, TypeError):
                # Name the position, never the value: the list may hold valid keys too.
                raise VaultError(
                    f"encryption key #{position} of {len(keys)} is not a Fernet key "
                    "(32 url-safe base64-encoded bytes, e.g. from `stock-tracker keys generate`)"
                ) from None
        self._fernet = MultiFernet(fernets)
        self.key_count = len(fernets)

    def __repr__(self) -> str:
        return f"CredentialVault(<{self.key_count} key(s) hidden>)"

    def encrypt(self, fields: Mapping[str, str]) -> str:
        payload = json.dumps(dict(fields), sort_keys=True, separators=(",", ":"))
        return self._fernet.encrypt(payload.encode()).decode()

    def decrypt(self, token: str) -> dict[str, str]:
        try:
            payload = self._fernet.decrypt(token.encode())
        except InvalidToken:
            raise VaultError(
                "a stored secret cannot be decrypted with the configured keys; "
                "was the key it was written with removed from STOCK_TRACKER_ENCRYPTION_KEYS?"
            ) from None
        fields = json.loads(payload)
        if not isinstance(fields, dict):
            raise VaultError("a stored secret is not a set of key fields")
        return {str(k): str(v) for k, v in fields.items()}

    def rotate(self, token: str) -> str:
        """The same secret encrypted under the first key (a fresh token even if it already was)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise VaultError(
                "a stored secret cannot be decrypted with the configured keys, so it cannot be "
                "re-encrypted; keep the old key in STOCK_TRACKER_ENCRYPTION_KEYS (after the new one)"
            ) from None


def generate_key() -> str:
    return Fernet.generate_key().decode()
