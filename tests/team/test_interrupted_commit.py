"""A COMMIT whose reply never comes: the writer asks the server instead of guessing.

Through a proxy that cuts the connection exactly there, a batch either did commit (the server
replied, the reply was swallowed) or did not (the COMMIT never reached the server). Either way
the caller must get the truth: an ack for the committed one, with no second row, and for the
other a rerun that commits it once; never an error claiming "nothing was written" for a write
that is in the store, and never an ack for one that is not.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from memhub.embedding import HashEmbedder
from memhub.storage.postgres.writer import PgWriteSession
from tests.pgserver import PgServer
from tests.storage.builders import make_item
from tests.storage.engines import Engine, settings_for

from .harness import fresh_store
from .proxy import Proxy


@pytest.fixture
def proxied(
    pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Engine, Proxy, str]]:
    url = fresh_store(pg_server)
    with Proxy(pg_server.port) as proxy:
        passfile = tmp_path / "pgpass"
        passfile.write_text(
            pg_server.passfile.read_text()
            + f"127.0.0.1:{proxy.port}:*:postgres:{pg_server.password}\n"
        )
        passfile.chmod(0o600)
        monkeypatch.setenv("PGPASSFILE", str(passfile))
        through = url.replace(f":{pg_server.port}/", f":{proxy.port}/")
        engine = Engine(settings_for("postgresql", tmp_path, url=through), HashEmbedder())
        try:
            yield engine, proxy, url.rsplit("/", 1)[1]
        finally:
            engine.close()


def rows_of(server: PgServer, dbname: str, content_hash: str) -> tuple[int, int]:
    with server.connect(dbname) as conn:
        memories = conn.execute(
            "SELECT count(*) FROM memhub.memories WHERE content_hash = %s", (content_hash,)
        ).fetchall()[0][0]
        changes = conn.execute(
            "SELECT count(*) FROM memhub.changes WHERE content_hash = %s", (content_hash,)
        ).fetchall()[0][0]
    return int(memories), int(changes)


@pytest.mark.parametrize("reached", [True, False], ids=["committed", "never-arrived"])
def test_an_interrupted_commit_is_resolved_by_asking(
    proxied: tuple[Engine, Proxy, str], pg_server: PgServer, reached: bool
) -> None:
    engine, proxy, dbname = proxied
    e = HashEmbedder()
    engine.write(lambda txn: txn.store(make_item(e, "a write before the fault")))
    item = make_item(e, f"the write whose commit reply is lost ({reached})")
    writer = engine.storage.writer
    assert isinstance(writer, PgWriteSession)
    proxy.cut_on(b"; COMMIT", forward=reached)  # not "READ COMMITTED" of the BEGIN
    record = engine.write(lambda txn: txn.store(item))  # acked: it is in the store
    assert proxy.cuts == 1
    assert record.content_hash == item.content_hash
    assert writer.resolved == 1
    assert writer.retried == (0 if reached else 1)
    assert rows_of(pg_server, dbname, item.content_hash) == (1, 1)
    assert [c.content_hash for c in engine.follow()][-1] == item.content_hash
