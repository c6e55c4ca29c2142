"""Where the embedded default's Dagster instance lives and its config comes from.

Kept free of Dagster imports: `stock-tracker dev` prepares the instance folder before it starts
Dagster's own processes, and importing Dagster there would cost seconds on every start and stop.
"""

from __future__ import annotations

import shutil
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# A checkout has dagster.yaml at its root; the wheel carries the same file inside this package.
INSTANCE_CONFIG = next(
    (p for p in (REPO_ROOT / "dagster.yaml", Path(__file__).with_name("dagster.yaml")) if p.exists()),
    REPO_ROOT / "dagster.yaml",
)


def prepare_dagster_home(dagster_home: Path) -> Path:
    """Create `dagster_home` with the product's dagster.yaml unless it has one (an operator's
    edits stay); return it resolved."""
    dagster_home = dagster_home.resolve()
    dagster_home.mkdir(parents=True, exist_ok=True)
    if not (dagster_home / "dagster.yaml").exists():
        shutil.copy(INSTANCE_CONFIG, dagster_home / "dagster.yaml")
    return dagster_home
