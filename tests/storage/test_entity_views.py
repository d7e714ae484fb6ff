"""``memory_explore`` and ``memory_detail`` over each engine's entity graph, hand-computed.

The graph: M1 links Auth and Python, M2 links Auth, M3 links Python and db; M4 links
nothing. Links carry their times (M1 100, M2 200, M3 300), so "newest first" is M3, M2, M1.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import pytest

from memhub.graph import entities, explore, walks
from memhub.graph.explore import Chunk

from .builders import make_item
from .engines import Engine

if TYPE_CHECKING:
    from memhub.protocol import messages as m
    from memhub.storage.engine import WriteTxn
    from memhub.storage.model import NewMemory

CONTENT = {
    "M1": "Auth design. Uses tokens. More text",
    "M2": "Second note about auth",
    "M3": "Third about db",
    "M4": "Nothing linked here",
}
QUALITY = {"M1": 0.9, "M3": 0.2}  # M2 has none: 12.4 reads 0.5


def store_one(txn: WriteTxn, item: NewMemory) -> m.MemoryRecord:
    return txn.store(item)


def link(memory: str, name: str, kind: str, at: float) -> Any:
    return entities.links(memory, [entities.Entity(name, kind, "content")], now=at)


@pytest.fixture
def graph(engine: Engine, embedder) -> tuple[Engine, dict[str, str]]:
    hashes: dict[str, str] = {}
    for key, content in CONTENT.items():
        metadata = {"quality_score": QUALITY[key]} if key in QUALITY else {}
        item = make_item(embedder, content, skip_semantic=True, metadata=metadata)
        hashes[key] = engine.write(partial(store_one, item=item)).content_hash
    h = hashes
    rows = [
        *link(h["M1"], "Auth", "tag", 100.0),
        *link(h["M1"], "Python", "tag", 100.0),
        *link(h["M2"], "Auth", "tag", 200.0),
        *link(h["M3"], "Python", "file", 300.0),
        *link(h["M3"], "db", "tag", 300.0),
    ]
    engine.write(lambda txn: txn.put_edges(rows, replace=False))
    return engine, hashes


def chunk(h: dict[str, str], key: str, relevance: float) -> Chunk:
    return Chunk(h[key], CONTENT[key], relevance)


def pool(h: dict[str, str]) -> list[Chunk]:
    return [chunk(h, "M2", 0.9), chunk(h, "M1", 0.8), chunk(h, "M3", 0.5), chunk(h, "M4", 0.95)]


def top(h: dict[str, str], *pairs: tuple[str, float]) -> list[dict[str, Any]]:
    return [{"hash": h[k], "content": CONTENT[k], "relevance": r} for k, r in pairs]


def run_explore(engine: Engine, chunks: list[Chunk], **kw: Any) -> dict[str, Any]:
    args = {"max_entities": 10, "chunks_per_entity": 3, "scoring": None, **kw}
    return engine.read(lambda snap: explore.explore(snap, chunks, **args))


def test_explore_maps_the_entities_of_the_best_chunks(graph):
    engine, h = graph
    found = run_explore(engine, pool(h))
    assert found == {
        "entities": [
            {
                "entity_id": "auth",
                "name": "Auth",
                "entity_type": "tag",
                "summary": "Second note about auth. Auth design.",
                "relation_count": 2,
                "top_chunks": top(h, ("M2", 0.9), ("M1", 0.8)),
            },
            {
                "entity_id": "python",
                "name": "Python",
                "entity_type": "file",  # types ["file", "tag"]: the first in name order
                "summary": "Auth design. Third about db.",
                "relation_count": 2,
                "top_chunks": top(h, ("M1", 0.8), ("M3", 0.5)),
            },
            {
                "entity_id": "db",
                "name": "db",
                "entity_type": "tag",
                "summary": "Third about db.",
                "relation_count": 1,
                "top_chunks": top(h, ("M3", 0.5)),
            },
        ],
        "count": 3,
    }


def test_explore_stops_at_max_entities_and_chunks_per_entity(graph):
    engine, h = graph
    found = run_explore(engine, pool(h), max_entities=2, chunks_per_entity=1)
    assert [(e["name"], e["top_chunks"]) for e in found["entities"]] == [
        ("Auth", top(h, ("M2", 0.9))),
        ("Python", top(h, ("M1", 0.8))),
    ]
    assert found["count"] == 2


def test_explore_falls_back_to_the_most_linked_entities_without_their_chunks(graph):
    engine, h = graph
    found = run_explore(engine, [chunk(h, "M4", 0.95)])
    assert [
        (e["name"], e["relation_count"], e["top_chunks"], e["summary"]) for e in found["entities"]
    ] == [
        ("Auth", 2, [], ""),
        ("Python", 2, [], ""),
        ("db", 1, [], ""),
    ]
    assert run_explore(engine, [], max_entities=1)["count"] == 1


def test_explore_on_an_empty_graph_answers_no_entities(engine):
    assert run_explore(engine, [Chunk("a" * 64, "x", 0.9)]) == {"entities": [], "count": 0}


def test_composite_scoring_adds_proximity_and_centrality_and_reranks(graph):
    engine, h = graph
    [auth] = run_explore(engine, pool(h), max_entities=1, scoring="composite")["entities"]
    # From M2 (the best chunk): Auth at 1 hop, M1 at 2; degree 2 -> centrality 0.1.
    m1 = 0.6 * 0.8 + 0.25 * (1 / 3) + 0.15 * 0.1
    m2 = 0.6 * 0.9 + 0.25 * 0.0 + 0.15 * 0.1
    assert [(c["hash"], c["composite_score"]) for c in auth["top_chunks"]] == [
        (h["M1"], m1),
        (h["M2"], m2),
    ]
    assert auth["top_chunks"][0]["score_components"] == {
        "relevance": 0.8,
        "proximity": 1 / 3,
        "centrality": 0.1,
    }
    assert auth["summary"] == "Auth design. Second note about auth."


def detail(engine: Engine, eid: str, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "limit": 50, "include_related": True, "max_hops": 1, "scoring": None, "store": None
    }  # fmt: skip
    args.update(kw)
    return engine.read(lambda snap: explore.detail(snap, eid, **args))


def test_detail_ranks_the_entity_memories_by_quality_and_finds_related_entities(graph):
    engine, h = graph
    assert detail(engine, "auth") == {
        "entity_id": "auth",
        "name": "Auth",
        "chunks": [
            {"hash": h["M1"], "content": CONTENT["M1"], "relevance": 0.9},
            {"hash": h["M2"], "content": CONTENT["M2"], "relevance": 0.5},
        ],
        # seeds M2 and M1 (newest first): M2 shares Auth with M1 (M1's Auth, Python), M1
        # shares Auth with M2 and Python with M3 (M3's Python, db); the entity itself included
        "related_entities": [
            {"entity_id": "auth", "name": "Auth", "shared_count": 1},
            {"entity_id": "python", "name": "Python", "shared_count": 1},
            {"entity_id": "db", "name": "db", "shared_count": 1},
        ],
    }


def test_detail_limit_hops_related_and_composite(graph):
    engine, h = graph
    one = detail(engine, "python", limit=1, include_related=False)
    assert one == {
        "entity_id": "python",
        "name": "Python",
        "chunks": [{"hash": h["M3"], "content": CONTENT["M3"], "relevance": 0.2}],
        "related_entities": [],
    }
    scored = detail(engine, "python", scoring="composite")
    # chunks by quality: M1 (0.9), M3 (0.2); from M1, M3 is 2 hops away; degree 2
    assert [(c["hash"], c["composite_score"]) for c in scored["chunks"]] == [
        (h["M1"], 0.6 * 0.9 + 0.25 * 0.0 + 0.15 * 0.1),
        (h["M3"], 0.6 * 0.2 + 0.25 * (1 / 3) + 0.15 * 0.1),
    ]


def test_detail_resolves_ids_by_index_then_by_scan_and_refuses_unknown_ones(graph):
    engine, h = graph
    more = [
        *link(h["M4"], "python", "tag", 400.0),
        *link(h["M4"], "https://example.com/docs", "url", 400.0),
        *link(h["M2"], "Auth Design", "tag", 400.0),
    ]
    engine.write(lambda txn: txn.put_edges(more, replace=False))
    # "Python" (2 links) wins over "python" (1); a URL's id is found by the scan
    assert detail(engine, "python", include_related=False)["name"] == "Python"
    url = detail(engine, "https-example-com-docs", include_related=False)
    assert (url["name"], [c["hash"] for c in url["chunks"]]) == (
        "https://example.com/docs",
        [h["M4"]],
    )
    assert detail(engine, "auth-design", include_related=False)["name"] == "Auth Design"
    assert detail(engine, "nothing-like-it") == {
        "success": False,
        "error": "Unknown entity_id: nothing-like-it",
        "entity_id": "nothing-like-it",
        "chunks": [],
        "related_entities": [],
    }


def test_detail_in_one_store_keeps_that_store_s_memories(graph, embedder):
    engine, h = graph
    item = make_item(embedder, "Work auth note", skip_semantic=True, store="work")
    work = engine.write(lambda txn: txn.store(item)).content_hash
    engine.write(lambda txn: txn.put_edges(link(work, "Auth", "tag", 500.0), replace=False))
    scoped = detail(engine, "auth", store="work", include_related=False)
    assert [c["hash"] for c in scoped["chunks"]] == [work]
    default = detail(engine, "auth", store="default", include_related=False)
    assert [c["hash"] for c in default["chunks"]] == [h["M1"], h["M2"]]
    assert len(detail(engine, "auth", include_related=False)["chunks"]) == 3


def test_a_chunk_of_two_entities_carries_each_entity_s_own_score(graph):
    # 12.4 shares one dict between Auth's and Python's M1: both then show Python's score
    # (0.495, M1 being Python's own start) although Auth ranked M1 by 0.578. memhub does not.
    engine, h = graph
    auth, python = run_explore(engine, pool(h), max_entities=2, scoring="composite")["entities"]
    assert auth["top_chunks"][0]["composite_score"] == 0.6 * 0.8 + 0.25 * (1 / 3) + 0.15 * 0.1
    assert python["top_chunks"][0]["composite_score"] == 0.6 * 0.8 + 0.25 * 0.0 + 0.15 * 0.1


def test_linking_on_store_writes_124s_has_entity_and_shares_entity_rows(engine, embedder):
    def stored(content: str, tags: list[str]) -> m.MemoryRecord:
        item = make_item(embedder, content, tags, skip_semantic=True)

        def write(txn: WriteTxn) -> m.MemoryRecord:
            record = txn.store(item)
            entities.link_stored(txn, record, ["Kafka"], now=float(len(content)))
            return record

        record: m.MemoryRecord = engine.write(write)
        return record

    first = stored("ask @ann about kafka", ["ops"])
    second = stored("@ann moved src/app.py to #infra, cc @Ops", [])
    out = engine.read(lambda snap: snap.edges([first.content_hash], direction="out", limit=20))
    assert [(e.target, e.relationship_type, e.metadata) for e in out] == sorted(
        [
            ("ann", "has_entity", {"entity_type": "person"}),
            ("ops", "has_entity", {"entity_type": "tag"}),
            ("Kafka", "has_entity", {"entity_type": "custom"}),
            (second.content_hash, "shares_entity", {"shared_entity": "ann"}),
        ]
    )
    # "Ops" is not the tag "ops": names are matched exactly, as 12.4 matches them
    back = engine.read(lambda snap: snap.edges([second.content_hash], direction="out", limit=20))
    assert {(e.target, e.relationship_type) for e in back} == {
        ("ann", "has_entity"),
        ("Ops", "has_entity"),
        ("src/app.py", "has_entity"),
        ("infra", "has_entity"),
        ("untagged", "has_entity"),  # 12.4's Memory tags a memory without tags "untagged"
        (first.content_hash, "shares_entity"),
    }
    assert all(e.connection_types == ["entity"] and e.similarity == 1.0 for e in back)


def test_walks_past_their_bound_lose_proximity_or_say_what_to_ask(graph, monkeypatch):
    engine, h = graph
    monkeypatch.setattr(walks, "FANOUT_LIMIT", 1)  # every node of the graph is a "hub" now
    [auth] = run_explore(engine, pool(h), max_entities=1, scoring="composite")["entities"]
    assert [c["score_components"]["proximity"] for c in auth["top_chunks"]] == [0.0, 0.0]
    with pytest.raises(walks.TooLarge, match=r"related entities of 'Auth': .*include_related"):
        detail(engine, "auth")
    assert len(detail(engine, "auth", include_related=False)["chunks"]) == 2
