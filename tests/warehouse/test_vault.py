"""The credential vault: Fernet at rest, MultiFernet rotation, fingerprints, and no secret in sight."""

from __future__ import annotations

import hashlib

import pytest

from warehouse.vault import CredentialVault, VaultError, fingerprint, generate_key, require_fields

SECRET = {"client_id": "123456", "api_key": "5a78b24f-f996-4ba6-8251-42bec771fc56"}


def test_round_trip_hides_the_secret() -> None:
    vault = CredentialVault([generate_key()])
    token = vault.encrypt(SECRET)
    assert SECRET["api_key"] not in token and SECRET["client_id"] not in token
    assert vault.decrypt(token) == SECRET
    assert vault.encrypt(SECRET) != token  # fresh IV each time: equal keys do not look equal


def test_first_key_encrypts_every_key_decrypts_and_rotate_moves_to_the_first() -> None:
    old_key, new_key = generate_key(), generate_key()
    old_token = CredentialVault([old_key]).encrypt(SECRET)
    both = CredentialVault([new_key, old_key])
    assert both.decrypt(old_token) == SECRET

    rotated = both.rotate(old_token)
    assert rotated != old_token
    assert CredentialVault([new_key]).decrypt(rotated) == SECRET
    with pytest.raises(VaultError, match="cannot be decrypted"):
        CredentialVault([old_key]).decrypt(rotated)
    with pytest.raises(VaultError, match="cannot be re-encrypted"):
        CredentialVault([generate_key()]).rotate(old_token)


def test_bad_key_lists_fail_clearly_without_echoing_keys() -> None:
    with pytest.raises(VaultError, match="no encryption keys"):
        CredentialVault([])
    good = generate_key()
    with pytest.raises(VaultError, match="key #2 of 2 is not a Fernet key") as caught:
        CredentialVault([good, "not-a-key-but-maybe-a-password"])
    assert good not in str(caught.value) and "not-a-key" not in str(caught.value)


def test_repr_hides_keys() -> None:
    key = generate_key()
    vault = CredentialVault([key, generate_key()])
    assert key not in repr(vault) and key not in str(vault)
    assert "2 key(s) hidden" in repr(vault)


def test_fingerprints_are_short_stable_and_not_the_secret() -> None:
    token = "eyJhbGciOiJFUzI1NiJ9.payload.signature"
    wb = fingerprint("wildberries", {"token": token})
    assert wb == hashlib.sha256(token.encode()).hexdigest()[:12]
    assert fingerprint("wildberries", {"token": f" {token} "}) == wb
    ozon = fingerprint("ozon", SECRET)
    assert ozon == "123456/" + hashlib.sha256(SECRET["api_key"].encode()).hexdigest()[:12]
    assert SECRET["api_key"] not in ozon


def test_required_fields_name_what_is_missing() -> None:
    with pytest.raises(ValueError, match="ozon credentials need client_id, api_key"):
        require_fields("ozon", {})
    with pytest.raises(ValueError, match="unknown marketplace"):
        require_fields("amazon", {"token": "x"})
    assert require_fields("wildberries", {"token": " t "}) == {"token": "t"}
