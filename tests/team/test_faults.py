"""Faults under load on a team store: three daemons as three machines, one real PostgreSQL server.

Each test runs ``memhub stress`` (in process, real daemon and client processes) while one fault
strikes, and ends with the stress run's integrity checks: no acked write lost, one row per content
hash cluster-wide, the feed replaying to the table, every subscriber on every machine given every
change once and in commit order, every mirror equal to the server's rows. Writes that failed
during a fault must have failed with an error naming the server; none may have been acked.

The server is the module's own (``pg_private``): these tests kill it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from memhub.errors import DatabaseError
from memhub.protocol import messages as m
from memhub.stress.orchestrator import ChaosContext
from tests.pgserver import PgServer

from .harness import call, failed_checks, listening, memhub_backends, once_after, stress, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def server(pg_private: PgServer, monkeypatch: pytest.MonkeyPatch) -> PgServer:
    # Every process of the run (daemons, clients) finds this server's password the way users
    # give theirs: libpq's password file, never a URL.
    monkeypatch.setenv("PGPASSFILE", str(pg_private.passfile))
    return pg_private


def database(server: PgServer, name: str) -> str:
    server.create_database(name, vector=True)
    return server.passwordless_url(dbname=name)


def assert_sound(report: dict[str, Any]) -> None:
    """Every integrity check passed, and every failed op failed with an error naming the server."""
    assert not failed_checks(report), failed_checks(report)
    assert report["client_failures"] == []
    assert report["outcomes"].get("ok", 0) > 0
    assert set(report["errors"]) <= {"DatabaseError"}, report["error_messages"]
    for message in report["error_messages"]:
        assert report["db"] in message, message


def test_kill9_a_daemon_under_load(server: PgServer) -> None:
    url = database(server, "kill_daemon")
    report = stress(url, kill_every=1.5, duration=8.0)
    assert_sound(report)
    assert report["daemon_kills"] >= 2
    assert report["errors"] == {}  # the clients reconnect: a killed daemon costs no write


def test_kill9_the_postmaster_and_restart_it(server: PgServer) -> None:
    url = database(server, "kill_postmaster")

    def crash(ctx: ChaosContext) -> None:
        server.kill9()
        ctx.note("postmaster killed")
        server.start()

    report = stress(url, chaos=once_after(150, crash), duration=8.0)
    assert_sound(report)
    assert any("postmaster killed" in note for note in report["chaos"])


def test_immediate_shutdown_under_load(server: PgServer) -> None:
    url = database(server, "stop_immediate")

    def crash(ctx: ChaosContext) -> None:
        server.stop("immediate")
        ctx.note("stopped -m immediate")
        server.start()

    report = stress(url, chaos=once_after(150, crash), duration=8.0)
    assert_sound(report)


def test_terminate_every_memhub_backend(server: PgServer) -> None:
    url = database(server, "terminate")
    terminated: list[int] = []

    def terminate(ctx: ChaosContext) -> None:
        with server.connect() as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = 'terminate' AND application_name LIKE 'memhub %%'"
            ).fetchall()
        terminated.append(sum(1 for (ok,) in rows if ok))
        # every daemon listens again by itself (the follower's LISTEN connection reconnects)
        wait_for("every daemon to LISTEN again", lambda: listening(server, "terminate") == 3)

    report = stress(url, chaos=once_after(150, terminate), duration=8.0)
    assert_sound(report)
    # writer, readers and listener of three daemons
    assert terminated, "the fault never struck"
    assert terminated[0] >= 9, terminated


def status_is(ctx: ChaosContext, index: int, status: str) -> Callable[[], m.HealthReport | None]:
    def probe() -> m.HealthReport | None:
        health = ctx.health(index)
        return health if health is not None and health.status == status else None

    return probe


def test_server_unreachable_for_ten_seconds(server: PgServer) -> None:
    url = database(server, "outage")
    seen: dict[str, Any] = {}

    def outage(ctx: ChaosContext) -> None:
        server.stop("fast")
        down_at = time.monotonic()
        ctx.note("server stopped")
        seen["health"] = [
            wait_for(f"{machine.name} to say unhealthy", status_is(ctx, i, "unhealthy"))
            for i, machine in enumerate(ctx.machines)
        ]
        seen["store"] = call(ctx, 0, m.Store(id=0, content="written while the server was down"))
        time.sleep(max(0.0, 10.0 - (time.monotonic() - down_at)))  # the outage's length
        server.start()
        ctx.note("server started")
        up_at = time.monotonic()
        for i, machine in enumerate(ctx.machines):
            wait_for(f"{machine.name} to say healthy", status_is(ctx, i, "healthy"))
        seen["healthy_after_s"] = time.monotonic() - up_at
        wait_for("every daemon to LISTEN again", lambda: listening(server, "outage") == 3)
        seen["after"] = call(ctx, 1, m.Store(id=0, content="written once the server was back"))

    report = stress(url, chaos=once_after(100, outage), duration=22.0, rate=10.0)
    assert_sound(report)
    where = report["db"]
    for health in seen["health"]:
        assert where in health.message, health.message
    refused = seen["store"]
    assert isinstance(refused, DatabaseError), refused  # never an ack
    assert where in refused.message
    assert "nothing was written" in refused.message
    assert isinstance(seen["after"], m.Stored)
    assert seen["healthy_after_s"] < 10, seen
    # the clients kept going after the outage, and got answers again
    assert report["outcomes"]["ok"] > 0
    assert any("server started" in note for note in report["chaos"])


def test_daemons_hold_no_connection_after_stop(server: PgServer) -> None:
    """A stopped run leaves nothing connected (no leaked pool or listener)."""
    url = database(server, "leaks")
    report = stress(url, duration=2.0, machines=2, clients=2)
    assert_sound(report)
    assert memhub_backends(server, "leaks") == []
