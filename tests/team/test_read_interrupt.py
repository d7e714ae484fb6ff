"""A team daemon's read can be interrupted from another thread (a stop must not wait for a
long read of its own): the statement is cancelled on the server and the read ends with
ReadTimeout, and the session reads again afterwards."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from memhub.embedding import HashEmbedder
from memhub.storage.engine import ReadTimeout
from tests.pgserver import PgDatabase, PgServer
from tests.storage.engines import Engine, settings_for


def test_a_running_read_is_cancelled_by_interrupt(
    pg_server: PgServer, pg_db: PgDatabase, tmp_path: Path
) -> None:
    url = pg_server.passwordless_url(dbname=pg_db.name)
    engine = Engine(settings_for("postgresql", tmp_path, url=url), HashEmbedder())
    reader = engine.storage.open_reader()
    outcome: list[BaseException | object] = []
    started = threading.Event()

    def sleepy(snap: object) -> object:
        started.set()
        snap.cur.execute("SELECT pg_sleep(60)")  # type: ignore[attr-defined]
        return "not interrupted"

    def read() -> None:
        try:
            outcome.append(reader.run(sleepy, time.monotonic() + 120))
        except ReadTimeout as exc:
            outcome.append(exc)

    worker = threading.Thread(target=read)
    began = time.monotonic()
    worker.start()
    assert started.wait(10)
    time.sleep(0.3)  # inside pg_sleep by now (a cancel before it would still end the read)
    reader.interrupt()
    worker.join(30)
    try:
        assert not worker.is_alive()
        assert len(outcome) == 1
        assert isinstance(outcome[0], ReadTimeout)
        assert time.monotonic() - began < 20
        assert reader.run(lambda snap: snap.counts(), time.monotonic() + 10) == (0, 0)
    finally:
        reader.close()
        engine.close()


def test_interrupt_with_no_read_running_does_nothing(
    pg_server: PgServer, pg_db: PgDatabase, tmp_path: Path
) -> None:
    url = pg_server.passwordless_url(dbname=pg_db.name)
    engine = Engine(settings_for("postgresql", tmp_path, url=url), HashEmbedder())
    reader = engine.storage.open_reader()
    try:
        reader.interrupt()
        assert reader.run(lambda snap: snap.counts(), time.monotonic() + 10) == (0, 0)
    finally:
        reader.close()
        engine.close()
