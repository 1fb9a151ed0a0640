"""Test configuration: the shared fixtures live in ``tests/plugins`` (see its docstring);
this file loads them and keeps every test away from the developer's settings.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.plugins.database",
    "tests.plugins.auth",
    "tests.plugins.synthetic",
]


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's MEDZ1_* settings or writes to the working directory."""
    for key in list(os.environ):
        if key.startswith("MEDZ1_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("MEDZ1_DATA_DIR", str(tmp_path / "data"))
