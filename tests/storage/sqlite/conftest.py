"""The SQLite engine's own tests: only the SQLite engine."""

from __future__ import annotations

import pytest


@pytest.fixture
def engine_kind() -> str:
    return "sqlite"
