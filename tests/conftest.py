"""Settings for the whole suite (shared builders live in helper modules, not here)."""

import itertools
import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.pgserver import PgDatabase, PgServer

# The suite runs on loaded, shared machines: a slow example is not a failure. Property tests
# still stop at their example budgets.
settings.register_profile("memhub", deadline=None)
settings.load_profile("memhub")


# -- a real PostgreSQL server (tests/pgserver.py), for the team engine's tests ------------------

_db_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    """One server for the session: TCP on 127.0.0.1, password auth, pgvector.

    Its password reaches every client the way memhub's users give theirs: libpq's PGPASSFILE
    (set for this process and the daemons it starts), never a URL.
    """
    with PgServer.create(tmp_path_factory.mktemp("pg")) as server:
        previous = os.environ.get("PGPASSFILE")
        os.environ["PGPASSFILE"] = str(server.passfile)
        try:
            yield server
        finally:
            if previous is None:
                os.environ.pop("PGPASSFILE", None)
            else:
                os.environ["PGPASSFILE"] = previous


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


@pytest.fixture(scope="module")
def _pg_private_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    with PgServer.create(tmp_path_factory.mktemp("pg-private")) as server:
        yield server


@pytest.fixture
def pg_private(_pg_private_server: PgServer) -> PgServer:
    """A server of the test module's own, for tests that kill, stop or restart it.

    Running at the start of each test (restarted if an earlier test left it down); one initdb
    per module, so each test should use its own database.
    """
    if not _pg_private_server.running:
        _pg_private_server.start()
    return _pg_private_server
