"""Before a team daemon's mirror is loaded, the server answers searches and semantic dedup
with pgvector's exact scan: the same rows, in the same order, as the mirror gives afterwards."""

from __future__ import annotations

import functools
import time
from pathlib import Path

import pytest

from memhub.embedding import HashEmbedder
from memhub.errors import Duplicate
from memhub.storage import open_storage
from memhub.storage.engine import Snapshot, WriteCall, WriteTxn
from memhub.storage.model import Filters, FloatArray, NewMemory
from tests.pgserver import PgDatabase, PgServer
from tests.storage.builders import make_item
from tests.storage.engines import Engine, settings_for


def _store(txn: WriteTxn, item: NewMemory) -> object:
    return txn.store(item)


def _search(snap: Snapshot, vector: FloatArray, filters: Filters) -> list[tuple[str, float]]:
    return [
        (h.memory.content_hash, round(h.score, 5)) for h in snap.semantic_search(vector, filters, 8)
    ]


def test_server_scan_answers_until_the_mirror_is_loaded(
    pg_server: PgServer, pg_db: PgDatabase, tmp_path: Path
) -> None:
    url = pg_server.passwordless_url(dbname=pg_db.name)
    e = HashEmbedder()
    filler = Engine(settings_for("postgresql", tmp_path / "a", url=url), e)
    items = [
        make_item(e, f"note {i} on subject {i % 5}", tags=[f"s{i % 3}"], skip_semantic=True)
        for i in range(40)
    ]
    for item in items:
        filler.write(functools.partial(_store, item=item))
    filler.close()

    storage = open_storage(settings_for("postgresql", tmp_path / "b", url=url)).complete(e)
    reader = storage.open_reader()
    try:
        assert storage.searches_without_mirror
        assert storage.mirror is not None
        assert not storage.mirror.loaded
        cases = [
            (text, f) for text in ("subject 2", "note 7") for f in (Filters(), Filters(tags=["s1"]))
        ]
        before = [
            reader.run(
                functools.partial(_search, vector=e.encode([t])[0], filters=f),
                time.monotonic() + 10,
            )
            for t, f in cases
        ]
        # semantic dedup before the load: the server finds the near twin
        twin = make_item(e, "note 7 on subject 2!")
        [result] = storage.writer.run_batch([WriteCall(functools.partial(_store, item=twin), "")])
        with pytest.raises(Duplicate):
            result.unwrap()

        storage.load_mirror()
        loaded = storage.mirror  # (a new name: the assert above narrowed the old one)
        assert loaded is not None
        assert loaded.loaded
        after = [
            reader.run(
                functools.partial(_search, vector=e.encode([t])[0], filters=f),
                time.monotonic() + 10,
            )
            for t, f in cases
        ]
        assert before == after
        assert all(len(hits) == 8 for hits in before)
    finally:
        reader.close()
        storage.close()
