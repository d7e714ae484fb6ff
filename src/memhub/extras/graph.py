"""``memory_graph``'s walks in the daemon: one reader snapshot per walk, bounded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from memhub.errors import BadRequest
from memhub.graph import walks
from memhub.protocol import messages as m

if TYPE_CHECKING:
    from memhub.service import MemoryService
    from memhub.storage.engine import Snapshot

MAX_HOPS: Final = 16
"""Upper bound of ``max_hops``/``radius``/``max_depth`` (12.4 has none; the work bound still
applies below it)."""


def _bounded(name: str, value: int) -> int:
    if not 0 <= value <= MAX_HOPS:
        raise BadRequest(f"{name} must be between 0 and {MAX_HOPS}, got {value}")
    return value


def _hash(svc: MemoryService, name: str, value: str | None) -> str:
    if not value:
        raise BadRequest(f"{name} is required")
    return svc.rules.pattern(name, value)


async def query(svc: MemoryService, req: m.GraphQuery) -> m.ToolData:
    fn: Any
    match req.action:
        case "connected":
            start, hops = _hash(svc, "hash", req.hash), _bounded("max_hops", req.max_hops)

            def fn(snap: Snapshot) -> dict[str, Any]:
                return walks.connected(snap, start, hops)

        case "path":
            a, b = _hash(svc, "hash1", req.hash1), _hash(svc, "hash2", req.hash2)
            depth = _bounded("max_depth", req.max_depth)

            def fn(snap: Snapshot) -> dict[str, Any]:
                return walks.path(snap, a, b, depth)

        case "subgraph":
            centre, radius = _hash(svc, "hash", req.hash), _bounded("radius", req.radius)

            def fn(snap: Snapshot) -> dict[str, Any]:
                return walks.subgraph(snap, centre, radius)

        case "infer":
            rel = svc.rules.pattern("rel_type", req.rel_type or "related")
            hops = req.max_hops

            def fn(snap: Snapshot) -> dict[str, Any]:
                return walks.infer(snap, rel, hops)

        case "suggest":
            node = _hash(svc, "hash", req.hash)

            def fn(snap: Snapshot) -> dict[str, Any]:
                return walks.suggest(snap, node)

        case _:
            raise BadRequest(
                f"Invalid action '{req.action}'. Must be one of: connected, path, subgraph, "
                "infer, suggest"
            )
    data: dict[str, Any] = await svc.readers.submit(fn)
    return m.ToolData(id=req.id, data=data)
