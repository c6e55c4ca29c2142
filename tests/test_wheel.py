"""The wheel `uv build` makes holds the whole product: installed alone in a fresh venv, outside the
checkout, its `stock-tracker` runs and every entry point's modules import."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _uv() -> list[str]:
    """uv as the Makefile finds it: on PATH, else the pip-installed module."""
    for candidate in (["uv"], ["python3", "-m", "uv"]):
        if (
            shutil.which(candidate[0])
            and subprocess.run([*candidate, "--version"], capture_output=True).returncode == 0
        ):
            return candidate
    raise AssertionError("uv is not installed (the Makefile installs it with pip)")


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result


def test_wheel_installs_alone_and_its_cli_runs(tmp_path: Path) -> None:
    uv = _uv()
    # Nothing of the checkout or its venv may leak into the fresh one.
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env = {k: v for k, v in env.items() if not k.startswith("STOCK_TRACKER_")}
    dist, venv, elsewhere = tmp_path / "dist", tmp_path / "venv", tmp_path / "elsewhere"
    elsewhere.mkdir()

    _run([*uv, "build", "--wheel", "--out-dir", str(dist), str(REPO)], REPO, env)
    [wheel] = dist.glob("stock_tracker-*.whl")
    # The lock's versions (cached by uv, so this installs in seconds) rather than whatever is newest.
    constraints = tmp_path / "constraints.txt"
    _run(
        [*uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project", "-o", str(constraints)],
        REPO,
        env,
    )
    _run([*uv, "venv", "--quiet", str(venv)], tmp_path, env)
    python = venv / "bin" / "python"
    _run(
        [*uv, "pip", "install", "--quiet", "--python", str(python), "-c", str(constraints), str(wheel)],
        tmp_path,
        env,
    )

    help_text = _run([str(venv / "bin" / "stock-tracker"), "--help"], elsewhere, env).stdout
    for command in ("demo", "dev", "sandbox", "api", "tenants", "credentials", "sync"):
        assert f"  {command} " in help_text
    # The Dagster code location and the API app import completely from the wheel, with the data
    # files they read (Alembic's template, the Dagster instance config).
    where = _run(
        [
            str(python),
            "-c",
            "import cli, definitions, api.main, warehouse.app_db as db, assets.instance_config as ic; "
            "print(cli.__file__); print(db.MIGRATIONS / 'script.py.mako'); print(ic.INSTANCE_CONFIG)",
        ],
        elsewhere,
        env,
    ).stdout.split()
    for path in where:
        assert path.startswith(str(venv)) and Path(path).is_file(), where
