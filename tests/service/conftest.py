"""The memory service in this process: the daemon's own start-up, without a subprocess.

``run_daemon(write_runtime=False)`` opens the store, loads the (hash) embedder and starts every
actor exactly as ``memhub serve`` does; tests then call the service the way the transport does,
as an admitted caller. Rules of the service are tested here; what needs processes (locks,
signals, spawning) stays in tests/daemon.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from memhub.config import DEFAULT_PRAGMAS, Settings
from memhub.credentials import Caller
from memhub.daemon import DaemonHandle, run_daemon
from memhub.protocol import messages as m
from tests.pgserver import PgServer
from tests.storage.engines import ENGINES, prepare_team_store


@attrs.define
class InProcess:
    """A running daemon's service, and a caller to send requests as."""

    handle: DaemonHandle
    caller: Caller

    @property
    def service(self) -> Any:
        return self.handle.service

    async def call(self, request: m.Request, *, client: str | None = None) -> m.Reply:
        caller = self.caller if client is None else Caller(name=client, kind="token")
        return await self.handle.service.handle(request, caller)


def service_settings(where: Path, **overrides: Any) -> Settings:
    return attrs.evolve(
        Settings(
            db_path=where / "memories.db",
            pragmas=dict(DEFAULT_PRAGMAS),
            embedder="hash",
            readers=2,
            machine="test-box",
        ),
        **overrides,
    )


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[InProcess]:
    async with trio.open_nursery() as nursery:
        handle: DaemonHandle = await nursery.start(
            lambda task_status: run_daemon(
                service_settings(tmp_path), write_runtime=False, task_status=task_status
            )
        )
        yield InProcess(handle, Caller(name="tests", kind="token"))
        handle.stop()


_team_databases = itertools.count()


@pytest.fixture(params=ENGINES)
async def engine_daemon(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[InProcess]:
    """:func:`daemon` on each engine: a SQLite file, and a team store on the test server."""
    overrides: dict[str, Any] = {}
    if request.param == "postgresql":
        server: PgServer = request.getfixturevalue("pg_server")
        name = f"service_{next(_team_databases)}"
        server.create_database(name, vector=False)
        url = server.passwordless_url(dbname=name)
        prepare_team_store(url)
        overrides["database_url"] = url
    settings = service_settings(tmp_path, semantic_dedup=False, **overrides)
    async with trio.open_nursery() as nursery:
        handle: DaemonHandle = await nursery.start(
            lambda task_status: run_daemon(settings, write_runtime=False, task_status=task_status)
        )
        yield InProcess(handle, Caller(name="tests", kind="token"))
        handle.stop()
