"""Shared pieces of the team tests: a prepared store, stress runs with chaos, waiting on the server.

Every wait here is on a condition (a health answer, a row in ``pg_stat_activity``, a count), with
a deadline that only turns a hang into a failure; nothing is ordered by sleeping.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from memhub.domain.hashing import content_hash
from memhub.protocol import messages as m
from memhub.stress.orchestrator import Chaos, ChaosContext, RunConfig, run
from memhub.transport.client import open_daemon_client
from tests.pgserver import PgServer
from tests.storage.engines import prepare_team_store

T = TypeVar("T")
_numbers = itertools.count(1)


def fresh_store(server: PgServer, *, embedder: str = "hash:v1", dimension: int = 384) -> str:
    """A new database on ``server`` prepared by ``memhub team init``; its password-less URL."""
    name = f"team_{os.getpid()}_{next(_numbers)}"
    server.create_database(name, vector=False)
    url = server.passwordless_url(dbname=name)
    prepare_team_store(url, embedder, dimension)
    return url


def stress(url: str, *, chaos: Chaos | None = None, **overrides: Any) -> dict[str, Any]:
    """An in-process ``memhub stress`` over the team store ``url`` (its own temporary schema)."""
    settings: dict[str, Any] = {
        "clients": 6,
        "duration": 6.0,
        "ops": 0,
        "rate": 0.0,
        "seed": 1,
        "embedder": "hash",
        "via": "protocol",
        "db": None,
        "keep": False,
        "kill_every": 0.0,
        "legacy_writer": False,
        "url": url,
        "machines": 3,
        **overrides,
    }
    return run(RunConfig(**settings), chaos=chaos)


def failed_checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in report["checks"] if not c["ok"]]


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    """``probe()``'s first value that is not None (or False), polled until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def once_after(ops: int, act: Callable[[ChaosContext], None]) -> Chaos:
    """A chaos that runs ``act`` once, as soon as the clients have logged ``ops`` operations."""
    done: list[bool] = []

    def chaos(ctx: ChaosContext) -> None:
        if done or ctx.ops < ops:
            return
        done.append(True)
        ctx.note(f"fault at {ctx.ops} ops")
        act(ctx)
        ctx.note(f"fault over at {ctx.ops} ops")

    return chaos


def memhub_backends(server: PgServer, dbname: str) -> list[tuple[int, str, str]]:
    """(pid, application_name, query) of every memhub connection to ``dbname``."""
    with server.connect() as conn:
        rows = conn.execute(
            "SELECT pid, application_name, query FROM pg_stat_activity "
            "WHERE datname = %s AND application_name LIKE 'memhub %%'",
            (dbname,),
        ).fetchall()
    return [(int(pid), str(app), str(query)) for pid, app, query in rows]


def listening(server: PgServer, dbname: str) -> int:
    """How many memhub connections to ``dbname`` are LISTENing (one per daemon when well)."""
    return sum(1 for _, _, query in memhub_backends(server, dbname) if query.startswith("LISTEN"))


def call(ctx: ChaosContext, index: int, request: m.Request, client: str = "probe") -> Any:
    """``request`` on machine ``index``'s daemon: its reply, or the error it raised.

    A store is entered in the run's ledger, so the integrity checks account for it."""
    info = ctx.machines[index].info
    assert info is not None

    async def ask() -> Any:
        with trio.fail_after(30):
            async with open_daemon_client(info.url, info.token, client_name=client) as conn:
                try:
                    return await conn.call(request)
                except Exception as exc:
                    return exc

    reply = trio.run(ask)
    if isinstance(request, m.Store):
        ctx.records.append(
            {
                "op": "store",
                "client": None,
                "hash": content_hash(request.content),
                "outcome": "ok" if isinstance(reply, m.Stored) else "error",
                "error": f"{type(reply).__name__}: {reply}",
                "t": time.time(),
            }
        )
    return reply
