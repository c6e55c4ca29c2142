"""Outside tools the operations tests run: promtool and prometheus (Debian's `prometheus`
package; .ci/run installs it). Missing tools fail the test with how to get them, never skip it."""

from __future__ import annotations

import shutil

import pytest

INSTALL_HINT = "install Debian's prometheus package (`apt-get install -y prometheus`; .ci/run does it)"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found on PATH: {INSTALL_HINT}")
    return path
