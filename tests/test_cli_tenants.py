"""`tenants`, `credentials` and `keys` as an operator runs them: real app database, real sandbox over HTTP.

Every invocation is also checked for leaks: no marketplace secret may appear in any output.
"""

from __future__ import annotations

import os
import random
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import orjson
import pytest
import requests
from click.testing import CliRunner, Result
from sqlalchemy import text

from cli.tenants import register
from pipelines.checks import MarketplaceUnavailable, check_credentials
from sandbox.generate import generate_scenario
from sandbox.scenario import Scenario, parse_scenario
from sandbox.server import SandboxServer
from sandbox.wb.tokens import make_token
from settings import get_settings
from warehouse import sync_runs, tenants
from warehouse.app_db import engine_for, session_factory
from warehouse.vault import CredentialVault, generate_key
from warehouse.vault import fingerprint as vault_fingerprint

SCALE = 1000.0
WB_SERVICES = ("wb_content", "wb_analytics", "wb_statistics", "wb_marketplace")
BAD_WB_TOKEN = make_token(random.Random(404))  # well-formed, but no seller has it


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    raw = generate_scenario(sellers=2, skus=5, warehouses=3, days=5, seed=3)
    return parse_scenario(orjson.dumps(raw))


@pytest.fixture
def server(scenario: Scenario) -> Iterator[SandboxServer]:
    with SandboxServer(scenario, time_scale=SCALE) as running:
        yield running


@pytest.fixture
def wb_token(scenario: Scenario) -> str:
    return str(scenario["sellers"][0]["credentials"]["token"])  # type: ignore[index]


@pytest.fixture
def ozon_key(scenario: Scenario) -> dict[str, str]:
    seller = next(s for s in scenario["sellers"] if s["marketplace"] == "ozon")
    return dict(seller["credentials"])  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite"])
def app_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'home' / 'app.db'}"
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    yield url
    engine_for(url).dispose()


class Cli:
    """The commands on a bare group (cli/__init__.py wires the same `register`), with leak checks."""

    def __init__(self, home: Path, app_url: str, secrets: list[str]) -> None:
        self.home, self.app_url, self.secrets = home, app_url, secrets
        self.group = click.Group("stock-tracker")
        register(self.group)

    def __call__(self, *args: str, input: str | None = None, ok: bool = True, code: int = 1) -> Result:
        get_settings.cache_clear()  # each invocation reads the environment afresh, as a new process would
        result = CliRunner().invoke(self.group, list(args), input=input)
        for secret in self.secrets:
            assert secret not in result.output, f"a secret leaked into the output of {args}"
        assert "Traceback" not in result.output
        if ok:
            assert result.exit_code == 0, result.output
        else:
            assert result.exit_code == code, result.output  # 1: ClickException, 2: usage error
            assert isinstance(result.exception, SystemExit)  # not a crash
        return result

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        with engine_for(self.app_url).connect() as connection:
            return [tuple(row) for row in connection.execute(text(query))]

    def vault(self) -> CredentialVault:
        get_settings.cache_clear()
        return CredentialVault(get_settings().fernet_keys)


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    server: SandboxServer,
    app_url: str,
    wb_token: str,
    ozon_key: dict[str, str],
) -> Iterator[Cli]:
    for name in list(os.environ):
        if name.startswith("STOCK_TRACKER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env
    home = tmp_path / "home"
    monkeypatch.setenv("STOCK_TRACKER_HOME", str(home))
    monkeypatch.setenv("STOCK_TRACKER_APP_DATABASE_URL", app_url)
    for key, url in server.urls.items():
        monkeypatch.setenv(f"STOCK_TRACKER_{key.upper()}_URL", url)
    monkeypatch.setenv("STOCK_TRACKER_MARKETPLACE_TIME_SCALE", str(SCALE))
    yield Cli(home, app_url, [wb_token, ozon_key["api_key"], BAD_WB_TOKEN])
    get_settings.cache_clear()


def fault(server: SandboxServer, service: str, kind: str) -> None:
    rule = {"service": service, "endpoint": "*", "kind": kind, "fraction": 1.0}
    requests.post(server.control_url + "/faults", json=rule, timeout=5).raise_for_status()


def clear_faults(server: SandboxServer) -> None:
    requests.delete(server.control_url + "/faults", timeout=5).raise_for_status()


# --- tenants -----------------------------------------------------------------------------------


def test_tenants_create_list_update(cli: Cli) -> None:
    created = cli("tenants", "create", "acme-shop", "--name", "Acme Shop", "--tier", "pro", "--locale", "en")
    assert "Created tenant acme-shop" in created.output
    cli(
        "tenants", "create", "borey", "--name", "Борей", "--orders-window", "14", "--spreadsheet-id", "1Abc_d"
    )

    listed = cli("tenants", "list").output
    assert "acme-shop" in listed and "Acme Shop" in listed and "pro" in listed
    assert "Борей" in listed and "never" in listed

    assert "already exists" in cli("tenants", "create", "borey", "--name", "Again", ok=False).output
    assert "not a slug" in cli("tenants", "create", "Bad_Id", "--name", "X", ok=False).output
    assert (
        "unknown timezone"
        in cli("tenants", "create", "x", "--name", "X", "--timezone", "Mars", ok=False).output
    )
    assert "no tenant 'ghost'" in cli("tenants", "update", "ghost", "--tier", "pro", ok=False).output

    cli(
        "tenants", "update", "borey", "--tier", "enterprise", "--status", "suspended", "--orders-window", "30"
    )
    with session_factory(cli.app_url)() as session:
        borey = tenants.get_tenant(session, "borey")
        assert borey is not None
        assert (borey.tier, borey.status, borey.orders_window_days) == ("enterprise", "suspended", 30)
    cli("tenants", "update", "borey", "--status", "deleted")
    assert "borey" not in cli("tenants", "list").output
    assert "borey" in cli("tenants", "list", "--all").output


def test_tenants_list_shows_the_last_sync(cli: Cli) -> None:
    cli("tenants", "create", "acme", "--name", "Acme")
    with session_factory(cli.app_url)() as session:
        run = sync_runs.start_sync_run(session, "acme", "cli", "starter")
        sync_runs.finish_sync_run(session, run, "success", counts={"products": 5})
    assert "success 20" in cli("tenants", "list").output


# --- marketplace keys --------------------------------------------------------------------------


@pytest.mark.parametrize("app_url", ["sqlite", "postgresql"], indirect=True)
def test_wb_key_is_checked_then_stored_encrypted(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, wb_token: str
) -> None:
    cli("tenants", "create", "acme", "--name", "Acme")
    monkeypatch.setenv("WB_TOKEN", wb_token)
    stored = cli("credentials", "set", "acme", "wildberries", "--token-env", "WB_TOKEN").output
    fingerprint = vault_fingerprint("wildberries", {"token": wb_token})
    assert "Wildberries accepted the key" in stored and fingerprint in stored
    assert "expires 2100-01-01" in stored  # the JWT's exp claim

    [(secret, status, expires)] = cli.sql("select secret, status, expires_at from marketplace_credentials")
    assert wb_token not in secret and status == "valid" and expires is not None
    with session_factory(cli.app_url)() as session:
        assert tenants.load_credentials(session, cli.vault(), "acme") == {"wildberries": {"token": wb_token}}

    shown = cli("credentials", "list", "acme").output
    assert fingerprint in shown and "valid" in shown
    assert "wildberries (valid)" in cli("tenants", "list").output


def test_bad_wb_token_is_refused_with_wbs_reason(cli: Cli) -> None:
    cli("tenants", "create", "acme", "--name", "Acme")
    refused = cli("credentials", "set", "acme", "wildberries", "--token", BAD_WB_TOKEN, ok=False).output
    assert "token is not valid" in refused and "nothing was stored" in refused
    assert cli.sql("select count(*) from marketplace_credentials") == [(0,)]


def test_ozon_key_from_the_prompt_and_a_bad_ozon_key(cli: Cli, ozon_key: dict[str, str]) -> None:
    cli("tenants", "create", "fox", "--name", "Urban Fox")
    wrong = cli(
        "credentials",
        "set",
        "fox",
        "ozon",
        "--client-id",
        ozon_key["client_id"],
        input="not-the-key\n",
        ok=False,
    )
    assert "Invalid Api-Key" in wrong.output and "nothing was stored" in wrong.output
    not_a_number = cli("credentials", "set", "fox", "ozon", "--client-id", "abc", "--api-key", "k", ok=False)
    assert "positive integer" in not_a_number.output
    assert cli.sql("select count(*) from marketplace_credentials") == [(0,)]

    # The Api-Key typed at a hidden prompt: it never reaches shell history or the output.
    stored = cli(
        "credentials",
        "set",
        "fox",
        "ozon",
        "--client-id",
        ozon_key["client_id"],
        input=ozon_key["api_key"] + "\n",
    )
    assert f"{ozon_key['client_id']}/" in stored.output
    with session_factory(cli.app_url)() as session:
        assert tenants.load_credentials(session, cli.vault(), "fox") == {"ozon": ozon_key}


def test_options_of_the_other_marketplace_are_refused(cli: Cli) -> None:
    cli("tenants", "create", "acme", "--name", "Acme")
    result = cli("credentials", "set", "acme", "ozon", "--token", "x", ok=False, code=2)
    assert "not --token" in result.output
    cli("credentials", "set", "acme", "wildberries", "--api-key", "k", ok=False, code=2)
    missing_env = cli("credentials", "set", "acme", "wildberries", "--token-env", "NOPE_UNSET", ok=False)
    assert "NOPE_UNSET is not set" in missing_env.output
    unknown = cli("credentials", "set", "ghost", "wildberries", "--token", "x", ok=False)
    assert "no tenant 'ghost'" in unknown.output


def test_an_outage_is_not_a_refusal(cli: Cli, server: SandboxServer, wb_token: str) -> None:
    cli("tenants", "create", "acme", "--name", "Acme")
    fault(server, "wb_content", "503")
    failed = cli("credentials", "set", "acme", "wildberries", "--token", wb_token, ok=False).output
    assert "could not check the key with Wildberries" in failed and "nothing was stored" in failed
    assert cli.sql("select count(*) from marketplace_credentials") == [(0,)]

    clear_faults(server)
    cli("credentials", "set", "acme", "wildberries", "--token", wb_token)
    fault(server, "wb_analytics", "503")
    check = cli("credentials", "check", "acme", ok=False).output
    assert "unreachable" in check
    assert cli.sql("select status from marketplace_credentials") == [("valid",)]  # unchanged


def test_check_records_a_revoked_key(
    cli: Cli, server: SandboxServer, wb_token: str, ozon_key: dict[str, str]
) -> None:
    cli("tenants", "create", "fox", "--name", "Urban Fox")
    cli("credentials", "set", "fox", "wildberries", "--token", wb_token)
    cli(
        "credentials",
        "set",
        "fox",
        "ozon",
        "--client-id",
        ozon_key["client_id"],
        "--api-key",
        ozon_key["api_key"],
    )
    assert "valid" in cli("credentials", "check", "fox").output

    for service in WB_SERVICES:
        fault(server, service, "401")  # the seller revoked the token in the cabinet
    check = cli("credentials", "check", "fox", ok=False).output
    assert "1 of 2 key(s) not accepted" in check and "revoked" in check
    statuses = dict(cli.sql("select marketplace, status from marketplace_credentials"))
    assert statuses == {"wildberries": "invalid", "ozon": "valid"}
    assert "valid" in cli("credentials", "check", "fox", "ozon").output


def test_delete_credentials(cli: Cli, wb_token: str) -> None:
    cli("tenants", "create", "acme", "--name", "Acme")
    cli("credentials", "set", "acme", "wildberries", "--token", wb_token)
    assert "Deleted the wildberries key" in cli("credentials", "delete", "acme", "wildberries").output
    assert (
        "no wildberries credentials" in cli("credentials", "delete", "acme", "wildberries", ok=False).output
    )
    assert "no marketplace keys" in cli("credentials", "list", "acme").output


# --- encryption keys ---------------------------------------------------------------------------


def _store_both(cli: Cli, wb_token: str, ozon_key: dict[str, str]) -> None:
    cli("tenants", "create", "fox", "--name", "Urban Fox")
    cli("credentials", "set", "fox", "wildberries", "--token", wb_token)
    cli(
        "credentials",
        "set",
        "fox",
        "ozon",
        "--client-id",
        ozon_key["client_id"],
        "--api-key",
        ozon_key["api_key"],
    )


def test_rotate_with_a_new_local_key(cli: Cli, wb_token: str, ozon_key: dict[str, str]) -> None:
    _store_both(cli, wb_token, ozon_key)
    keys_file = cli.home / "secrets" / "fernet.keys"
    [old_key] = keys_file.read_text().strip().split(",")
    before = dict(cli.sql("select marketplace, secret from marketplace_credentials"))

    rotated = cli("keys", "rotate", "--new-key").output
    assert "Re-encrypted 2 stored secret(s)" in rotated

    new_key, kept = keys_file.read_text().strip().split(",")
    assert kept == old_key and new_key != old_key
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    after = dict(cli.sql("select marketplace, secret from marketplace_credentials"))
    assert all(after[m] != before[m] for m in before)
    with session_factory(cli.app_url)() as session:
        creds = tenants.load_credentials(session, CredentialVault([new_key]), "fox")
    assert creds == {"wildberries": {"token": wb_token}, "ozon": ozon_key}
    assert "valid" in cli("credentials", "check", "fox").output  # later commands read the new file


def test_rotate_keys_from_the_environment(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, wb_token: str, ozon_key: dict[str, str]
) -> None:
    old_key, new_key = generate_key(), generate_key()
    monkeypatch.setenv("STOCK_TRACKER_ENCRYPTION_KEYS", old_key)
    _store_both(cli, wb_token, ozon_key)
    assert "STOCK_TRACKER_ENCRYPTION_KEYS" in cli("keys", "rotate", "--new-key", ok=False).output

    monkeypatch.setenv("STOCK_TRACKER_ENCRYPTION_KEYS", f"{new_key},{old_key}")
    assert "Re-encrypted 2 stored secret(s) under the newest of 2 key(s)" in cli("keys", "rotate").output
    with session_factory(cli.app_url)() as session:
        assert tenants.load_credentials(session, CredentialVault([new_key]), "fox")["ozon"] == ozon_key

    # Dropping the key the secrets are under is caught, and nothing is rewritten.
    monkeypatch.setenv("STOCK_TRACKER_ENCRYPTION_KEYS", generate_key())
    before = cli.sql("select secret from marketplace_credentials order by id")
    assert "cannot be re-encrypted" in cli("keys", "rotate", ok=False).output
    assert cli.sql("select secret from marketplace_credentials order by id") == before

    monkeypatch.setenv("STOCK_TRACKER_ENCRYPTION_KEYS", "not-a-fernet-key")
    assert "key #1 of 1 is not a Fernet key" in cli("keys", "rotate", ok=False).output


def test_keys_generate_prints_a_usable_key(cli: Cli) -> None:
    key = cli("keys", "generate").output.strip()
    assert CredentialVault([key]).decrypt(CredentialVault([key]).encrypt({"a": "b"})) == {"a": "b"}


# --- the check itself ---------------------------------------------------------------------------


def test_check_credentials_against_the_sandbox(
    server: SandboxServer, wb_token: str, ozon_key: dict[str, str]
) -> None:
    good = check_credentials("wildberries", {"token": wb_token}, server.urls, SCALE)
    assert good.ok and good.expires_at is not None and good.expires_at.year == 2100
    bad = check_credentials("ozon", {**ozon_key, "api_key": "wrong"}, server.urls, SCALE)
    assert not bad.ok and "Invalid Api-Key" in bad.message and "wrong" not in bad.message
    with pytest.raises(ValueError, match="ozon credentials need api_key"):
        check_credentials("ozon", {"client_id": "1"}, server.urls, SCALE)
    fault(server, "ozon", "500")
    with pytest.raises(MarketplaceUnavailable, match="could not check the key with Ozon"):
        check_credentials("ozon", ozon_key, server.urls, SCALE)
