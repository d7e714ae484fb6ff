"""Limits every memory's metadata must respect so that any reply carrying it can be encoded.

Replies are encoded with orjson, which refuses to nest deeper than 254 levels and integers
outside 64 bits; Python's ``json`` (used by mcp-memory-service and older memhub to write the
``metadata`` column) accepts ~990 levels and any integer. The wire therefore accepts metadata
nesting at most :data:`MAX_METADATA_DEPTH` levels (the object itself is level 1), leaving room
for the envelope around it (``search_result`` → ``hits`` → hit → ``memory`` → ``metadata``).

Rows already in a file may break these rules (written by another program); readers then show
the memory with its metadata replaced by :func:`unreadable_metadata`, never fail the page.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

#: Deepest nesting accepted in ``metadata`` (documented in docs/protocol.md).
MAX_METADATA_DEPTH: Final = 64
#: The key of the marker that replaces metadata no reply could carry.
UNREADABLE_METADATA_KEY: Final = "memhub_unreadable_metadata"


def nesting_depth(value: object, stop_after: int = MAX_METADATA_DEPTH) -> int:
    """Levels of JSON containers in ``value`` (a scalar is 0, ``{}`` is 1).

    Iterative, so a hostile value cannot exhaust the interpreter's stack; counting stops once
    the depth passes ``stop_after`` (the result is then ``stop_after + 1``).
    """
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > stop_after:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def metadata_problem(metadata: dict[str, Any]) -> str | None:
    """Why ``metadata`` cannot travel in a reply, or None when it can."""
    if nesting_depth(metadata) > MAX_METADATA_DEPTH:
        return f"it nests deeper than {MAX_METADATA_DEPTH} levels"
    try:
        orjson.dumps(metadata)
    except (TypeError, orjson.JSONEncodeError) as exc:
        return f"it cannot be encoded as JSON ({exc})"
    return None


def unreadable_metadata(problem: str) -> dict[str, Any]:
    """The marker shown instead of stored metadata that no reply can carry."""
    return {
        UNREADABLE_METADATA_KEY: (
            f"this memory's stored metadata is not shown: {problem} (it was written by another "
            "program); the stored value is left unchanged"
        )
    }
