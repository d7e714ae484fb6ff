"""A team store's mirror keeps its float32 rows on disk as a SQLite one does
(``MEMHUB_MIRROR_ROWS``), in the state directory, with the same search results as in RAM."""

from __future__ import annotations

import functools
from pathlib import Path

from memhub.embedding import HashEmbedder
from memhub.storage.engine import Snapshot, WriteTxn
from memhub.storage.model import Filters, FloatArray, NewMemory
from tests.pgserver import PgDatabase, PgServer
from tests.storage.builders import make_item
from tests.storage.engines import Engine, settings_for


def _store(txn: WriteTxn, item: NewMemory) -> object:
    return txn.store(item)


def test_rows_on_disk_search_as_rows_in_ram(
    pg_server: PgServer, pg_db: PgDatabase, tmp_path: Path
) -> None:
    url = pg_server.passwordless_url(dbname=pg_db.name)
    e = HashEmbedder()
    for where in ("a", "b"):  # the state directory, which the daemon's lock made before
        (tmp_path / where).mkdir()
    ram = Engine(settings_for("postgresql", tmp_path / "a", url=url, mirror_rows="ram"), e)
    disk = Engine(settings_for("postgresql", tmp_path / "b", url=url, mirror_rows="disk"), e)
    try:
        assert ram.storage.mirror is not None
        assert disk.storage.mirror is not None
        assert not ram.storage.mirror.rows_on_disk
        assert disk.storage.mirror.rows_on_disk
        items = [
            make_item(e, f"memory {i} about topic {i % 7}", skip_semantic=True) for i in range(60)
        ]
        for item in items:
            ram.write(functools.partial(_store, item=item))
        ram.follow()
        disk.follow()  # the other daemon's writes reach this mirror through the feed
        for text in ("topic 3", "memory 17", "something else entirely"):
            vector = e.encode([text])[0]

            def search(snap: Snapshot, v: FloatArray = vector) -> list[tuple[str, float]]:
                hits = snap.semantic_search(v, Filters(), 10)
                return [(h.memory.content_hash, round(h.score, 6)) for h in hits]

            in_ram, on_disk = ram.read(search), disk.read(search)
            assert in_ram == on_disk
            assert len(in_ram) == 10
    finally:
        ram.close()
        disk.close()
