"""Whatever another program writes into a row, every read path still answers for everyone.

SQLite columns are only affinities: a TEXT ``created_at`` (an ISO string, ``'yesterday'``), a
BLOB of tags, ``1e300`` or a 64-bit integer can all sit in a file memhub shares with other
programs. One such row must never fail a page, a search, a count or an update.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memhub.domain.hashing import content_hash
from memhub.storage.engine import WriteTxn
from memhub.storage.model import Filters

from ..builders import make_item, open_rw
from ..engines import Engine, settings_for

any_value = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(["yesterday", "2024-05-01T10:00:00Z", "2024-05-01 10:00", "", "nan", "1e300"]),
    st.binary(max_size=30),
)
row = st.fixed_dictionaries(
    {
        "content": any_value.filter(lambda v: v is not None),  # NOT NULL in every layout
        "tags": any_value,
        "memory_type": any_value,
        "metadata": any_value | st.sampled_from(['{"a": 1}', "[1]", "{broken", '"x"']),
        "created_at": any_value,
        "updated_at": any_value,
        "created_at_iso": any_value,
        "updated_at_iso": any_value,
    }
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(row, min_size=1, max_size=4))
def test_every_read_path_is_total_over_what_sqlite_can_hold(tmp_path_factory, embedder, rows):
    where = tmp_path_factory.mktemp("hostile")
    engine = Engine(settings_for("sqlite", where), embedder)
    try:
        item = make_item(embedder, "a well formed memory", ["ops"], skip_semantic=True)
        good = engine.write(lambda txn: txn.store(item))
        other = open_rw(engine.settings.db_path, create=False)
        with other:
            for i, values in enumerate(rows):
                columns = ", ".join(["content_hash", *values])
                marks = ", ".join("?" * (len(values) + 1))
                other.execute(
                    f"INSERT INTO memories ({columns}) VALUES ({marks})",
                    [content_hash(f"hostile {i} {time.time()}"), *values.values()],
                )
        other.close()
        _read_everything(engine, embedder)
        engine.storage.writer.observe_others()
        engine.follow()
        _read_everything(engine, embedder)
        while (totals := engine.read(lambda snap: snap.aggregate_totals())) is None:
            pass
        assert totals[0]["default"].memories == len(rows) + 1
        page, _ = engine.read(lambda snap: snap.list_page(Filters(), page=1, page_size=100))
        for record in page:
            assert math.isfinite(record.created_at)
            assert math.isfinite(record.updated_at)
            engine.write(retagging(record.content_hash))
        _, edited = engine.read(
            lambda s: s.list_page(Filters(tags=["edited"]), page=1, page_size=1)
        )
        assert edited == len(page)
        assert engine.write(lambda txn: txn.delete_matching(Filters(tags=["edited"]), None))
        assert engine.read(lambda snap: snap.get(good.content_hash)) is None
    finally:
        engine.close()


def _read_everything(engine: Engine, embedder) -> None:
    q = embedder.encode(["a well formed memory"])[0]
    engine.read(lambda snap: snap.list_page(Filters(), page=1, page_size=100))
    engine.read(lambda snap: snap.list_page(Filters(tags=["ops"]), page=1, page_size=100))
    engine.read(lambda snap: snap.list_page(Filters(stale_before=time.time()), page=1, page_size=9))
    engine.read(lambda snap: snap.exact_search("memory", Filters(), 10))
    engine.read(lambda snap: snap.recent(Filters(after=0.0), 10))
    engine.read(lambda snap: snap.semantic_search(q, Filters(), 10))
    engine.read(lambda snap: snap.semantic_search(q, Filters(memory_type="note"), 10))
    engine.read(lambda snap: snap.hybrid_search("memory", q, Filters(), 10))
    engine.read(lambda snap: snap.counts())


def retagging(content_hash: str) -> Callable[[WriteTxn], object]:
    def update(txn: WriteTxn) -> object:
        return txn.update(
            content_hash,
            tags=["edited"],
            memory_type="note",
            metadata=None,
            preserve_timestamps=False,
        )

    return update
