"""12.x's agent scope as a storage filter: before the top-k cut, in every read path."""

from __future__ import annotations

import attrs

from memhub.storage import queries
from memhub.storage import writes as db
from memhub.storage.queries import Filters
from memhub.storage.vectors import VectorIndex

from .helpers import make_item, run_write


def _store(conn, schema, embedder, index, content, tags=None, metadata=None):
    item = attrs.evolve(
        make_item(embedder, content, tags, skip_semantic=True), metadata=metadata or {}
    )
    run_write(conn, schema, lambda b: db.store(b, item), index=index)


def test_agent_filter_matches_metadata_or_tag_before_the_cut(new_db, embedder):
    conn, schema = new_db
    index = VectorIndex(384)
    for i in range(40):  # other agents' memories, all closer to the query than agent a's
        _store(conn, schema, embedder, index, f"deploy checklist item {i}", None, {"agent_id": "b"})
    _store(conn, schema, embedder, index, "release notes", None, {"agent_id": "a"})
    _store(conn, schema, embedder, index, "deploy checklist by tag", ["agent:a"])
    _store(conn, schema, embedder, index, "agent a lookalike", ["agent:ab"], {"agent_id": "ab"})
    with conn:  # a legacy row whose metadata is not JSON must not break a scoped read
        conn.execute("UPDATE memories SET metadata = '{broken' WHERE content = 'release notes'")
    _store(conn, schema, embedder, index, "notes of a", None, {"agent_id": "a"})
    scoped = Filters(agent_id="a")
    q = embedder.encode(["deploy checklist"])[0]
    with conn:
        for idx in (index, None):  # the RAM index and sqlite-vec's KNN alike
            hits = queries.semantic_search(conn, schema, idx, q, scoped, 1)
            assert [h.memory.content for h in hits] == ["deploy checklist by tag"]
            hits = queries.semantic_search(conn, schema, idx, q, scoped, 10)
            assert sorted(h.memory.content for h in hits) == [
                "deploy checklist by tag",
                "notes of a",
            ]
        page, total = queries.list_page(conn, schema, scoped, page=1, page_size=10)
        assert total == 2
        assert {r.content for r in page} == {"deploy checklist by tag", "notes of a"}
        assert queries.exact_search(conn, schema, "checklist", scoped, 10)[0].memory.tags == [
            "agent:a"
        ]
        hybrid = queries.hybrid_search(conn, schema, index, "deploy checklist", q, scoped, 10)
        assert {h.memory.content for h in hybrid} <= {"deploy checklist by tag", "notes of a"}
        assert queries.list_page(conn, schema, Filters(agent_id="b"), page=1, page_size=1)[1] == 40
        assert queries.list_page(conn, schema, Filters(agent_id="a_"), page=1, page_size=1)[1] == 0
