"""The `stock-tracker sandbox` commands as an operator runs them: real processes, real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

CLI = str(Path(sys.executable).with_name("stock-tracker"))
# A fixed clock: two generations a minute apart would otherwise differ in their order dates.
CLOCK = "2026-11-30T12:00"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = run_cli(
        "sandbox", "generate", "--sellers", "2", "--skus", "60", "--warehouses", "12", "--seed", "1",
        "--clock", CLOCK,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path = tmp_path_factory.mktemp("scenario") / "s.json"
    path.write_text(result.stdout)
    return path


@pytest.fixture
def served(scenario_file: Path) -> Iterator[dict[str, str]]:
    process = subprocess.Popen(
        [CLI, "sandbox", "serve", "--scenario", str(scenario_file), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        urls = json.loads(process.stdout.readline())
        yield urls
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_generate_is_seeded_and_pairs_wb_with_ozon(scenario_file: Path) -> None:
    scenario = json.loads(scenario_file.read_text())
    assert scenario["version"] == 1
    assert scenario["clock"] == "2026-11-30T12:00:00+03:00"
    assert scenario["sellers"][0]["marketplace"] == "wildberries"
    # Seller 2 sells on both marketplaces: two entries under one name.
    assert scenario["sellers"][1]["name"] == scenario["sellers"][2]["name"]
    assert sorted(s["marketplace"] for s in scenario["sellers"]) == ["ozon", "wildberries", "wildberries"]
    again = run_cli(
        "sandbox", "generate", "--sellers", "2", "--skus", "60", "--warehouses", "12", "--seed", "1",
        "--clock", CLOCK,
    )  # fmt: skip
    assert json.loads(again.stdout)["sellers"] == scenario["sellers"]


def test_serve_prints_base_urls_first_and_answers_with_scenario_keys(
    served: dict[str, str], scenario_file: Path
) -> None:
    assert set(served) >= {
        "wb_content",
        "wb_analytics",
        "wb_statistics",
        "wb_marketplace",
        "wb_common",
        "ozon",
        "telegram",
    }
    me = requests.get(served["telegram"] + "/bot1234:" + "a" * 30 + "/getMe", timeout=30).json()
    assert me["ok"] and me["result"]["is_bot"]
    scenario = json.loads(scenario_file.read_text())
    wb = next(s for s in scenario["sellers"] if s["marketplace"] == "wildberries")
    ozon = next(s for s in scenario["sellers"] if s["marketplace"] == "ozon")

    token = {"Authorization": wb["credentials"]["token"]}
    report = requests.post(
        served["wb_analytics"] + "/api/analytics/v1/stocks-report/wb-warehouses",
        json={},
        headers=token,
        timeout=30,
    )
    assert report.status_code == 200 and report.json()["data"]["items"]
    wrong = requests.get(served["wb_content"] + "/ping", headers={"Authorization": "wrong"}, timeout=30)
    assert wrong.status_code == 401

    keys = {"Client-Id": ozon["credentials"]["client_id"], "Api-Key": ozon["credentials"]["api_key"]}
    products = requests.post(
        served["ozon"] + "/v3/product/list", json={"limit": 10, "last_id": ""}, headers=keys, timeout=30
    )
    assert products.status_code == 200 and products.json()["result"]["items"]
    bad_key = requests.post(
        served["ozon"] + "/v3/product/list",
        json={"limit": 10},
        headers={**keys, "Api-Key": "00000000-0000-0000-0000-000000000000"},
        timeout=30,
    )
    assert bad_key.status_code in (401, 403, 404) and bad_key.json()["code"] == 5


def test_bad_scenario_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"version": 1, "clock": "2025-11-10T23:59:00+03:00", "sellers": [{"name": "x"}]}')
    result = run_cli("sandbox", "serve", "--scenario", str(broken), "--port", "0")
    assert result.returncode != 0
    assert "invalid scenario" in result.stderr and "Traceback" not in result.stderr
    missing = run_cli("sandbox", "serve", "--scenario", str(tmp_path / "nope.json"), "--port", "0")
    assert missing.returncode != 0 and "cannot read scenario" in missing.stderr


EXPORT_COLUMNS = (
    "Артикул продавца,Название,Артикул WB,Предмет,Бренд,Размер,Регион,Склад,"
    '"Заказали, шт","Остатки на текущий день, шт","В пути к клиенту, шт","В пути от клиента, шт",'
    '"Текущая цена с учетом скидок, ₽"'
)


def test_from_export_turns_a_cabinet_export_into_a_scenario(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    export.write_text(
        "Остатки по КТ по размерам\n"
        + EXPORT_COLUMNS
        + "\nA-1,Крем,111,Кремы,Бренд,-,Центральный,Коледино,3,12,1,0,990\n",
        encoding="utf-8",
    )
    result = run_cli("sandbox", "from-export", str(export))
    assert result.returncode == 0, result.stderr
    [seller] = json.loads(result.stdout)["sellers"]
    assert [p["nm_id"] for p in seller["products"]] == [111]
    assert sum(s["quantity"] for s in seller["stocks"]) == 12 and len(seller["orders"]) == 3


@pytest.mark.parametrize(
    ("content", "says"),
    [
        # Another report: some of the export's columns, not all.
        (
            "Заказы\nАртикул WB,Склад,Количество\n111,Коледино,3\n",
            ["«Артикул продавца»", "«Остатки на текущий день, шт»", "«Заказали, шт»"],
        ),
        # The title line removed: the header is read as the title, nothing as the header.
        (EXPORT_COLUMNS + "\nA-1,Крем,111,Кремы,Бренд,-,Центральный,Коледино,3,12,1,0,990\n", ["«Склад»"]),
        ("", ["«Артикул WB»"]),
        # The right header and no rows: today's silent empty scenario.
        ("Остатки по КТ по размерам\n" + EXPORT_COLUMNS + "\n", ["no product rows"]),
    ],
)
def test_from_export_refuses_a_file_that_is_not_the_export(
    tmp_path: Path, content: str, says: list[str]
) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text(content, encoding="utf-8")
    result = run_cli("sandbox", "from-export", str(wrong))
    assert result.returncode == 1
    assert result.stdout == ""  # no scenario, not even an empty one
    assert "Traceback" not in result.stderr and str(wrong) in result.stderr
    for words in says:
        assert words in result.stderr, result.stderr
    if "Заказы" in content:  # the columns the file has are not reported missing
        assert "«Артикул WB»" not in result.stderr and "«Склад»" not in result.stderr
