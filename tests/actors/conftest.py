"""Fixtures of the actor and storage tests; their builders live in :mod:`tests.actors.helpers`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import apsw
import pytest

from memhub.embedding import HashEmbedder
from memhub.storage import schema as schema_mod

from .helpers import open_rw


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture
def new_db(tmp_path: Path) -> Iterator[tuple[apsw.Connection, schema_mod.Schema]]:
    path = tmp_path / "memories.db"
    conn = open_rw(path)
    schema = schema_mod.create(conn, path, dimension=384, generation="v12")
    yield conn, schema
    conn.close()
