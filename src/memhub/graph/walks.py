"""``memory_graph``'s walks as 12.4 answers them, bounded.

12.4 runs each walk as one recursive SQL query with a per-path cycle guard, which enumerates
every simple path and has no bound on the hops: on a dense or large graph it runs until it
times out. memhub walks the same edges (``memory_graph`` through the seam's
:meth:`~memhub.storage.engine.Snapshot.edges`), in one snapshot, with the same answers, and
stops with a clear error once a walk would look at more than :data:`WORK_LIMIT` paths or edges
instead of running away. ``path`` is a breadth-first search, so it stays cheap on any graph.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from memhub.errors import BadRequest

if TYPE_CHECKING:
    from memhub.storage.engine import Snapshot

WORK_LIMIT: Final = 200_000
"""Paths (connected, subgraph, infer) or edges (path, suggest) one walk may look at."""
FANOUT_LIMIT: Final = 50_000
"""Edges of one node a walk reads (a hub past that is reported, not truncated silently)."""
SUBGRAPH_NODES: Final = 499
NON_TRAVERSABLE: Final = ("contradicted_by", "contradicts")


class TooLarge(BadRequest):
    """The walk would exceed its bound; nothing was cut silently."""


class Neighbours:
    """Edges per node, read once per walk from one snapshot."""

    def __init__(self, snap: Snapshot, relationship: str | None = None) -> None:
        self._snap = snap
        self._relationship = relationship
        self._both: dict[str, list[str]] = {}
        self._out: dict[str, list[str]] = {}
        self._hubs: set[str] = set()  # nodes past FANOUT_LIMIT (not read twice)

    def _read(self, node: str, direction: str) -> list[tuple[str, str]]:
        if node in self._hubs:
            raise TooLarge(f"memory {node} has more than {FANOUT_LIMIT} edges; walk from elsewhere")
        edges = self._snap.edge_ends(
            [node],
            direction="both" if direction == "both" else "out",
            relationship=self._relationship,
            limit=FANOUT_LIMIT,
        )
        if len(edges) > FANOUT_LIMIT:
            self._hubs.add(node)
            raise TooLarge(f"memory {node} has more than {FANOUT_LIMIT} edges; walk from elsewhere")
        return edges

    def both(self, node: str) -> list[str]:
        """The other end of every row touching ``node`` (a list: 12.x counts rows)."""
        if node not in self._both:
            self._both[node] = [
                target if source == node else source for source, target in self._read(node, "both")
            ]
        return self._both[node]

    def out(self, node: str) -> list[str]:
        if node not in self._out:
            self._out[node] = [target for _, target in self._read(node, "out")]
        return self._out[node]


def _simple_paths(
    start: str, hops: int, step: Callable[[str], list[str]], what: str
) -> list[tuple[str, int]]:
    """Every ``(node, length)`` of a simple path from ``start`` of 1..``hops`` edges, as 12.x's
    recursive CTE with its ``instr(path, …)`` guard yields them (DISTINCT)."""
    found: set[tuple[str, int]] = set()
    work = 0
    frontier: list[tuple[str, frozenset[str]]] = [(start, frozenset({start}))]
    for depth in range(1, hops + 1):
        nxt: list[tuple[str, frozenset[str]]] = []
        for node, seen in frontier:
            for other in step(node):
                if other in seen:
                    continue
                work += 1
                if work > WORK_LIMIT:
                    raise TooLarge(
                        f"{what} from {start} passes more than {WORK_LIMIT} paths within "
                        f"{hops} hops; ask for fewer hops"
                    )
                found.add((other, depth))
                nxt.append((other, seen | {other}))
        frontier = nxt
        if not frontier:
            break
    return sorted(found, key=lambda item: (item[1], item[0]))


def connected(
    snap: Snapshot, start: str, max_hops: int, near: Neighbours | None = None
) -> dict[str, Any]:
    """``near``: the edges already read by other walks of the same snapshot."""
    near = near or Neighbours(snap)
    found = _simple_paths(start, max_hops, near.both, "connected")
    return {
        "success": True,
        "connected": [{"hash": h, "distance": d} for h, d in found],
        "count": len(found),
    }


def path(snap: Snapshot, source: str, target: str, max_depth: int) -> dict[str, Any]:
    """The shortest directed path of at most ``max_depth`` nodes (12.x counts nodes)."""
    if source == target:
        return {"success": True, "path": [source], "length": 1}
    parents: dict[str, str | None] = {source: None}
    frontier = [source]
    nodes = 1
    work = 0
    while frontier and nodes < max_depth:
        nodes += 1
        # One read per level, not per node: a BFS level of thousands of nodes is one query
        # per 500 hashes.
        out = snap.edge_ends(frontier, direction="out", limit=WORK_LIMIT - work)
        work += len(out)
        if work > WORK_LIMIT - 1:
            raise TooLarge(
                f"a path from {source} would look at more than {WORK_LIMIT} edges; lower max_depth"
            )
        by_source: dict[str, list[str]] = {}
        for edge_source, edge_target in out:
            by_source.setdefault(edge_source, []).append(edge_target)
        nxt: list[str] = []
        for node in frontier:
            for other in by_source.get(node, ()):
                if other in parents:
                    continue
                parents[other] = node
                if other == target:
                    chain = [target]
                    while (up := parents[chain[-1]]) is not None:
                        chain.append(up)
                    chain.reverse()
                    return {"success": True, "path": chain, "length": len(chain)}
                nxt.append(other)
        frontier = nxt
    return {
        "success": True,
        "path": None,
        "length": 0,
        "message": "No path found within depth limit",
    }


def subgraph(snap: Snapshot, centre: str, radius: int) -> dict[str, Any]:
    around = _simple_paths(centre, radius, Neighbours(snap).both, "subgraph")
    nodes = {centre, *(h for h, _ in around)}
    if len(nodes) > SUBGRAPH_NODES:
        nodes = {centre, *(h for h, _ in around[: SUBGRAPH_NODES - 1])}
    edges: list[dict[str, Any]] = []
    seen: set[frozenset[str]] = set()
    for e in snap.edges_among(sorted(nodes)):
        pair = frozenset((e.source, e.target))
        if pair in seen:
            continue
        seen.add(pair)
        edges.append(
            {
                "source": e.source,
                "target": e.target,
                "similarity": e.similarity,
                "connection_types": e.connection_types,
                "metadata": e.metadata,
                "relationship_type": e.relationship_type,
            }
        )
    return {
        "success": True,
        "nodes": sorted(nodes),
        "edges": edges,
        "node_count": len(nodes),
        "edge_count": len(edges),
    }


def infer(snap: Snapshot, rel_type: str, max_hops: int, decay: float = 1.0) -> dict[str, Any]:
    """12.x's transitive closure over edges of exactly ``rel_type`` (2..4 hops)."""
    if rel_type in NON_TRAVERSABLE:
        return {
            "success": False,
            "error": f"Edge type '{rel_type}' is non-traversable. "
            f"Non-traversable types: {sorted(NON_TRAVERSABLE)}",
            "inferred": [],
        }
    hops = min(max(max(1, min(max_hops or 2, 4)), 2), 4)
    typed = snap.edges_of_type(rel_type, WORK_LIMIT)
    if len(typed) > WORK_LIMIT:
        raise TooLarge(f"more than {WORK_LIMIT} '{rel_type}' edges: infer cannot walk them all")
    out: dict[str, list[str]] = {}
    for e in typed:
        out.setdefault(e.source, []).append(e.target)
    direct = {(e.source, e.target) for e in typed}
    found: set[tuple[str, str, int]] = set()
    work = 0
    for origin in sorted(out):
        frontier = [(t, frozenset({origin, t})) for t in out[origin]]
        for depth in range(2, hops + 1):
            nxt = []
            for node, seen in frontier:
                for other in out.get(node, ()):
                    if other in seen:
                        continue
                    work += 1
                    if work > WORK_LIMIT:
                        raise TooLarge(
                            f"infer passes more than {WORK_LIMIT} '{rel_type}' paths; "
                            "ask for fewer hops"
                        )
                    if (origin, other) not in direct:
                        found.add((origin, other, depth))
                    nxt.append((other, seen | {other}))
            frontier = nxt
    ordered = sorted(found, key=lambda item: (item[2], item[0], item[1]))
    return {
        "success": True,
        "inferred": [
            {"source": s, "target": t, "distance": d, "weight": decay / max(d, 1)}
            for s, t, d in ordered
        ],
        "count": len(ordered),
    }


def common_neighbors(snap: Snapshot, node: str) -> tuple[list[tuple[str, int]], int]:
    """12.x's ``common_neighbors``: the ten nodes sharing the most neighbour rows with ``node``
    (not ``node``, not its neighbours; rows counted, both directions, every type), most shared
    first, and ``node``'s degree (its rows)."""
    near = Neighbours(snap)
    mine = near.both(node)
    counts: Counter[str] = Counter()
    work = 0
    for neighbour in mine:
        for candidate in near.both(neighbour):
            work += 1
            if work > WORK_LIMIT:
                raise TooLarge(f"suggest from {node} looks at more than {WORK_LIMIT} edges")
            if candidate != node:
                counts[candidate] += 1
    excluded = set(mine)
    ranked = sorted(
        ((c, n) for c, n in counts.items() if c not in excluded),
        key=lambda item: (-item[1], item[0]),
    )[:10]
    return ranked, len(mine)


def suggest(snap: Snapshot, node: str) -> dict[str, Any]:
    """12.x's common-neighbour suggestions (rows counted, both directions, every type)."""
    ranked, degree = common_neighbors(snap, node)
    suggestions: list[dict[str, Any]] = []
    for target, shared in ranked:
        confidence = shared / max(degree, 1)
        if confidence >= 0.3:
            suggestions.append(
                {
                    "target": target,
                    "type": "related",
                    "confidence": round(confidence, 3),
                    "shared_neighbors": shared,
                }
            )
    suggestions.sort(key=lambda s: s["confidence"], reverse=True)
    return {"success": True, "suggestions": suggestions[:10], "count": len(suggestions[:10])}
