"""Fixtures for tests against a real PostgreSQL server (see tests/pgserver.py)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pgserver import PgDatabase, PgServer

_db_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    """One server for the session: TCP on 127.0.0.1, password auth, pgvector."""
    with PgServer.create(tmp_path_factory.mktemp("pg")) as server:
        yield server


@pytest.fixture
def pg_db(pg_server: PgServer) -> Iterator[PgDatabase]:
    """A fresh database with the vector extension on the session server, dropped afterwards."""
    if not pg_server.running:  # a test stopped the shared server and did not restart it
        pg_server.start()
    name = f"test_{next(_db_numbers)}"
    db = pg_server.create_database(name)
    yield db
    if pg_server.running:
        pg_server.drop_database(name)


@pytest.fixture
def pg_private(tmp_path: Path) -> Iterator[PgServer]:
    """A server of the test's own, for tests that kill, stop or restart it."""
    with PgServer.create(tmp_path) as server:
        yield server
