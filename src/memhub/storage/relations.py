"""The values of the memory graph and of 12.x's memory evolution, as the storage seam speaks them.

mcp-memory-service keeps every relation between memories in one table, ``memory_graph``, keyed
by the *directed* pair ``(source_hash, target_hash)``: a pair holds one edge of one type.
Entities have no table of their own: an entity is the ``target_hash`` of ``has_entity`` rows
whose source is a memory. Both engines store exactly these rows (SQLite in 12.x's own table,
PostgreSQL in a table of the same shape), so the graph algorithms above the seam
(:mod:`memhub.graph`) are written once.
"""

from __future__ import annotations

import json
from typing import Any, Final, Literal

import attrs

HAS_ENTITY: Final = "has_entity"
CONTRADICTS: Final = "contradicts"
CONFLICT_TAG: Final = "conflict:unresolved"
#: 12.x's relationship types (``models/ontology.py``); ``has_entity`` rows are written apart.
RELATIONSHIPS: Final = frozenset(
    {"causes", "fixes", "contradicts", "supports", "follows", "related", "derived_from",
     "shares_entity"}
)  # fmt: skip
#: Types 12.x writes in both directions.
SYMMETRIC: Final = frozenset({"related", "contradicts", "shares_entity"})

Direction = Literal["out", "in", "both"]


@attrs.frozen(kw_only=True)
class Edge:
    """One ``memory_graph`` row, decoded as 12.x decodes it."""

    source: str
    target: str
    similarity: float
    connection_types: list[str]
    metadata: dict[str, Any]
    relationship_type: str
    created_at: float


def decode_connection_types(raw: object) -> list[str]:
    """A JSON array text; a legacy bare string is a list of one (12.x's rule)."""
    if raw is None or raw == "":
        return []
    text = raw if isinstance(raw, str) else str(raw)
    try:
        value = json.loads(text)
    except ValueError:
        return [text]
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def decode_edge_metadata(raw: object) -> dict[str, Any]:
    if not isinstance(raw, str) or not raw:
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


@attrs.frozen(kw_only=True)
class EntityCount:
    """An entity name with its number of ``has_entity`` rows and the newest row's time."""

    name: str
    count: int
    last_activity: float | None


@attrs.frozen(kw_only=True)
class EntityProfile:
    """12.x's ``get_entity_profile``: an entity name's ``has_entity`` rows, their newest time
    and the distinct ``metadata.entity_type`` values (sorted)."""

    name: str
    count: int
    last_activity: float | None
    types: list[str]


def entity_type_of(raw: object) -> str | None:
    """The ``entity_type`` of a ``has_entity`` row's metadata text (None: absent, not JSON)."""
    value = decode_edge_metadata(raw).get("entity_type")
    return None if value is None else str(value)


@attrs.frozen(kw_only=True)
class Conflict:
    """A ``contradicts`` pair of two live, current memories (12.x's ``get_conflicts`` row)."""

    hash_a: str
    hash_b: str
    content_a: str
    content_b: str
    similarity: float
    edge_metadata: dict[str, Any]


@attrs.frozen(kw_only=True)
class Lineage:
    """A memory's 12.x evolution columns."""

    content_hash: str
    parent_id: str | None
    version: int
    superseded_by: str | None
    confidence: float | None
    last_accessed: int | None
