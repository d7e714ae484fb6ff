"""``memory_graph``'s walks over each engine's edges: 12.4's answers, cycles, bounds."""

from __future__ import annotations

import pytest

from memhub.graph import walks
from memhub.storage.relations import Edge

from .engines import Engine


def edge(source: str, target: str, rel: str = "related") -> Edge:
    return Edge(
        source=source,
        target=target,
        similarity=0.5,
        connection_types=["semantic"],
        metadata={},
        relationship_type=rel,
        created_at=1.0,
    )


def symmetric(a: str, b: str, rel: str = "related") -> list[Edge]:
    return [edge(a, b, rel), edge(b, a, rel)]


@pytest.fixture
def triangle(engine: Engine) -> Engine:
    """12.4's probe graph: triangle A-B-C (related), C->D (causes), A and B -> python."""
    edges = [
        *symmetric("A", "B"),
        *symmetric("B", "C"),
        *symmetric("A", "C"),
        edge("C", "D", "causes"),
        edge("A", "python", "has_entity"),
        edge("B", "python", "has_entity"),
    ]
    engine.write(lambda txn: txn.put_edges(edges, replace=True))
    return engine


def test_connected_lists_a_node_once_per_simple_path_length_as_124(triangle):
    found = triangle.read(lambda snap: walks.connected(snap, "A", 2))
    pairs = [(x["hash"], x["distance"]) for x in found["connected"]]
    assert pairs == [("B", 1), ("C", 1), ("python", 1), ("B", 2), ("C", 2), ("D", 2), ("python", 2)]
    assert found["count"] == 7


def test_path_is_directed_and_counts_nodes(triangle):
    assert triangle.read(lambda snap: walks.path(snap, "A", "D", 5)) == {
        "success": True,
        "path": ["A", "C", "D"],
        "length": 3,
    }
    back = triangle.read(lambda snap: walks.path(snap, "D", "A", 5))
    assert back["path"] is None
    assert back["message"] == "No path found within depth limit"
    assert triangle.read(lambda snap: walks.path(snap, "A", "D", 2))["path"] is None
    assert triangle.read(lambda snap: walks.path(snap, "A", "A", 5))["path"] == ["A"]


def test_suggest_counts_rows_as_124s_common_neighbours(triangle):
    found = triangle.read(lambda snap: walks.suggest(snap, "A"))
    assert found == {
        "success": True,
        "suggestions": [
            {"target": "D", "type": "related", "confidence": 0.4, "shared_neighbors": 2}
        ],
        "count": 1,
    }


def test_subgraph_dedups_pairs_and_infer_finds_transitive_pairs(triangle):
    sub = triangle.read(lambda snap: walks.subgraph(snap, "A", 1))
    assert sub["nodes"] == ["A", "B", "C", "python"]
    assert sub["edge_count"] == 5  # A-B, A-C, A-python, B-C, B-python, each pair once
    inferred = triangle.read(lambda snap: walks.infer(snap, "related", 2))
    # every related pair is already direct in a triangle: only the 2-hop loops back are excluded
    assert inferred["count"] == 0
    chain = [edge("X", "Y", "causes"), edge("Y", "Z", "causes")]
    triangle.write(lambda txn: txn.put_edges(chain, replace=True))
    causes = triangle.read(lambda snap: walks.infer(snap, "causes", 2))
    assert causes["inferred"] == [{"source": "X", "target": "Z", "distance": 2, "weight": 0.5}]
    refused = triangle.read(lambda snap: walks.infer(snap, "contradicts", 2))
    assert refused["success"] is False
    assert "non-traversable" in refused["error"]


def test_cycles_end_and_a_dense_graph_is_refused_not_cut(engine):
    ring = [edge(f"n{i}", f"n{(i + 1) % 50}", "causes") for i in range(50)]
    engine.write(lambda txn: txn.put_edges(ring, replace=True))
    found = engine.read(lambda snap: walks.path(snap, "n0", "n49", 60))
    assert found["length"] == 50
    assert engine.read(lambda snap: walks.path(snap, "n1", "n0", 60))["length"] == 50
    # a clique of 40: every simple path of 4 hops is far past the bound
    clique = [edge(f"k{i}", f"k{j}") for i in range(40) for j in range(40) if i != j]
    engine.write(lambda txn: txn.put_edges(clique, replace=True))
    with pytest.raises(walks.TooLarge, match="more than 200000 paths"):
        engine.read(lambda snap: walks.connected(snap, "k0", 4))
