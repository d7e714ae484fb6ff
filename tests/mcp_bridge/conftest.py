"""Fixtures of the bridge tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .e2e import cleanup_daemons


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    """A fresh database path; every daemon a test started on it is stopped afterwards."""
    path = tmp_path / "sqlite_vec.db"
    try:
        yield path
    finally:
        cleanup_daemons(path)
