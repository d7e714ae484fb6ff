"""Named stores: mcp-memory-service 12.x partitions memories by a ``store`` name.

``default`` is where every memory goes unless a store is named, and what reads see unless one
is named; ``all`` on a read means every store. 12.4's MCP handlers take any string (``""``,
``"all"`` and ``"../x"`` end up as stores of those names); its REST routes refuse ``all`` on
writes. memhub follows the REST rule, and refuses names no read could name back: empty, too
long, or holding control characters.
"""

from __future__ import annotations

from typing import Final

DEFAULT_STORE: Final = "default"
ALL_STORES: Final = "all"
MAX_STORE_CHARS: Final = 64


def store_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a store, or None."""
    if not name.strip():
        return "a store name cannot be empty"
    if len(name) > MAX_STORE_CHARS:
        return f"a store name has at most {MAX_STORE_CHARS} characters"
    if any(not ch.isprintable() for ch in name):
        return "a store name cannot hold control characters"
    return None


def write_store_problem(name: str) -> str | None:
    """Why a write cannot go to store ``name``, or None."""
    if name == ALL_STORES:
        return "store='all' is only valid for read scopes"
    return store_name_problem(name)
