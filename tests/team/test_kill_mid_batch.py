"""kill -9 of a daemon in the middle of its write batch, made to happen exactly there.

A trigger on the store's ``changes`` table makes the batch of one client wait for an advisory
lock the test holds: the daemon has taken the store's lock and inserted the memory row, and is
inside the statement that appends the change. The test waits until the server shows that
backend waiting, SIGKILLs the daemon, and lets the trigger go. The server must roll the batch
back (no row, no change, no event), the other machine must carry on, and the killed machine's
next daemon must store the same text once.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from memhub.domain.hashing import content_hash
from memhub.errors import Unavailable
from memhub.protocol import messages as m
from memhub.storage.mirror import rows_digest
from memhub.stress.machines import Machine, team_machines
from memhub.transport.client import open_daemon_client
from tests.daemon.helpers import daemon_env
from tests.pgserver import PgServer

from .harness import fresh_store, wait_for

GATE = 4242  # the test's advisory lock key
TEXT = "decided: the gated write never happened"


def install_gate(server: PgServer, dbname: str) -> None:
    with server.connect(dbname) as conn:
        conn.execute(
            f"""CREATE FUNCTION memhub.gate() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.client = 'gated' THEN
                    PERFORM pg_advisory_xact_lock_shared({GATE});
                END IF;
                RETURN NEW;
            END $$"""
        )
        conn.execute(
            "CREATE TRIGGER gate BEFORE INSERT ON memhub.changes "
            "FOR EACH ROW EXECUTE FUNCTION memhub.gate()"
        )


def waiting_on_gate(server: PgServer, dbname: str, machine: str) -> int | None:
    with server.connect(dbname) as conn:
        row = conn.execute(
            "SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid "
            "WHERE a.datname = %s AND a.application_name LIKE %s AND l.locktype = 'advisory' "
            "AND NOT l.granted AND l.objid = %s",
            (dbname, f"memhub %({machine})", GATE),
        ).fetchone()
    return None if row is None else int(row[0])


def backend_alive(server: PgServer, pid: int) -> bool:
    with server.connect() as conn:
        return bool(
            conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchall()
        )


def count(server: PgServer, dbname: str, sql: str) -> int:
    with server.connect(dbname) as conn:
        return int(conn.execute(sql).fetchall()[0][0])


def health(machine: Machine) -> m.HealthReport:
    info = machine.info
    assert info is not None

    async def go() -> m.HealthReport:
        async with open_daemon_client(info.url, info.token) as client:
            reply = await client.call(m.Health(id=0))
            assert isinstance(reply, m.HealthReport)
            return reply

    return trio.run(go)


def holding(machine: Machine, rows: int) -> Callable[[], m.MirrorStats | None]:
    def probe() -> m.MirrorStats | None:
        mirror = health(machine).mirror
        return mirror if mirror is not None and mirror.rows == rows else None

    return probe


def test_kill9_in_the_middle_of_a_batch(pg_server: PgServer, tmp_path: Path) -> None:
    url = fresh_store(pg_server)
    dbname = url.rsplit("/", 1)[1]
    install_gate(pg_server, dbname)
    laptop, desktop = team_machines(2, url, "memhub", daemon_env(), tmp_path)
    events: list[tuple[str, str, str]] = []
    try:
        for machine in (laptop, desktop):
            machine.spawn()
            machine.wait_ready()
        assert laptop.info is not None
        assert desktop.info is not None
        with pg_server.connect(dbname) as gate:
            gate.execute("SELECT pg_advisory_lock(%s)", (GATE,))

            async def scenario() -> Any:
                assert laptop.info is not None
                assert desktop.info is not None
                async with (
                    open_daemon_client(
                        laptop.info.url, laptop.info.token, client_name="gated"
                    ) as on_laptop,
                    open_daemon_client(desktop.info.url, desktop.info.token) as on_desktop,
                ):
                    feed = await on_desktop.subscribe()

                    async def watch() -> None:
                        events.extend([(e.kind, e.content_hash, e.origin) async for e in feed])

                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(watch)
                        outcome: list[Any] = []
                        answered = trio.Event()

                        async def store() -> None:
                            try:
                                outcome.append(await on_laptop.call(m.Store(id=0, content=TEXT)))
                            except Unavailable as exc:
                                outcome.append(exc)
                            answered.set()

                        nursery.start_soon(store)
                        pid = await trio.to_thread.run_sync(
                            lambda: wait_for(
                                "the laptop's batch to wait inside its INSERT",
                                lambda: waiting_on_gate(pg_server, dbname, "machine-1"),
                            )
                        )
                        assert laptop.info is not None
                        daemon = laptop.daemon
                        assert daemon is not None
                        os.kill(laptop.info.pid, signal.SIGKILL)
                        await trio.to_thread.run_sync(daemon.wait)
                        with trio.fail_after(30):
                            await answered.wait()
                        nursery.cancel_scope.cancel()
                return pid, outcome[0]

            pid, answer = trio.run(scenario)
            gate.execute("SELECT pg_advisory_unlock(%s)", (GATE,))
        assert isinstance(answer, Unavailable), answer  # the write was never acknowledged
        # Released, the orphaned backend finds its client gone and rolls the batch back.
        wait_for("the killed daemon's backend to end", lambda: not backend_alive(pg_server, pid))
        gone = f"SELECT count(*) FROM memhub.memories WHERE content_hash = '{content_hash(TEXT)}'"
        assert count(pg_server, dbname, gone) == 0
        assert count(pg_server, dbname, "SELECT count(*) FROM memhub.changes") == 0
        # The killed machine starts again and stores the text, once; the other saw only that.
        laptop.spawn()
        laptop.wait_ready()

        async def again() -> Any:
            assert laptop.info is not None
            assert desktop.info is not None
            async with (
                open_daemon_client(laptop.info.url, laptop.info.token, client_name="retry") as a,
                open_daemon_client(desktop.info.url, desktop.info.token) as b,
            ):
                feed = await b.subscribe()
                stored = await a.call(m.Store(id=0, content=TEXT))
                with trio.fail_after(10):
                    event = await feed.receive()
                return stored, event

        stored, event = trio.run(again)
        assert isinstance(stored, m.Stored)
        assert (event.kind, event.content_hash, event.origin) == (
            "stored",
            content_hash(TEXT),
            "machine-1",
        )
        assert events == []  # the rolled-back batch published nothing
        with pg_server.connect(dbname) as conn:
            ids = [int(r) for (r,) in conn.execute("SELECT id FROM memhub.memories").fetchall()]
        for machine in (laptop, desktop):
            mirror = wait_for(f"{machine.name}'s mirror to hold the row", holding(machine, 1))
            assert mirror.digest == rows_digest(ids)
    finally:
        for machine in (laptop, desktop):
            machine.stop()
