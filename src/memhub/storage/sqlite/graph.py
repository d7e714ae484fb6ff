"""The SQLite engine's memory graph and memory evolution, on 12.x's own tables and columns.

``memory_graph`` (12.x's migrations 008/009: primary key ``(source_hash, target_hash)``) holds
every relation; ``memories.superseded_by``/``parent_id``/``version``/``confidence``/
``last_accessed`` hold the evolution of a memory. What is written is what 12.4 writes, so its own
code reads memhub's edges, resolutions and versions, and the reverse. Unlike 12.4 every change
of a memory row is recorded in the change feed (tags and metadata move the web UI's counts).

The read half runs in a reader's snapshot, the write half inside the writer's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs

from memhub.domain.tags import tags_from_db
from memhub.errors import BadRequest, NotFound
from memhub.storage.model import DEFAULT_STORE, Change, Facets
from memhub.storage.relations import (
    CONFLICT_TAG,
    HAS_ENTITY,
    Conflict,
    Direction,
    Edge,
    EntityCount,
    EntityProfile,
    Lineage,
    decode_connection_types,
    decode_edge_metadata,
    entity_type_of,
)
from memhub.storage.sqlite import filters as sql_filters
from memhub.storage.sqlite import writes
from memhub.storage.sqlite.queries import (
    get_by_hash,
    record_columns,
    row_to_record,
    store_column,
)
from memhub.storage.sqlite.values import as_int, epoch, optional_text, text

if TYPE_CHECKING:
    import apsw

    from memhub.protocol import messages as m
    from memhub.storage.model import NewMemory
    from memhub.storage.sqlite.schema import Schema

EDGE_COLUMNS: Final = (
    "g.source_hash, g.target_hash, g.similarity, g.connection_types, g.metadata, "
    "COALESCE(g.relationship_type, 'related'), g.created_at"
)
#: Hashes per ``IN (...)`` list (SQLite's default variable limit is 32766).
CHUNK: Final = 500
NO_GRAPH: Final = (
    "this database has no memory_graph table (it predates mcp-memory-service 10.x's graph "
    "migration); opening it once with mcp-memory-service 12.x adds it"
)


def _edge(row: Sequence[Any]) -> Edge:
    source, target, similarity, kinds, meta, relationship, created = row
    return Edge(
        source=text(source),
        target=text(target),
        similarity=float(similarity) if isinstance(similarity, int | float) else 0.0,
        connection_types=decode_connection_types(optional_text(kinds)),
        metadata=decode_edge_metadata(optional_text(meta)),
        relationship_type=text(relationship, "related"),
        created_at=epoch(created) or 0.0,
    )


def _chunks(items: Sequence[str]) -> list[Sequence[str]]:
    return [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)] or [[]]


# ---------------------------------------------------------------------------------------------
# reads


def _edge_rows(
    conn: apsw.Connection,
    schema: Schema,
    hashes: Sequence[str],
    columns: str,
    *,
    direction: Direction,
    relationship: str | None,
    limit: int,
) -> list[Sequence[Any]]:
    """``columns`` of the edges leaving, entering or touching ``hashes``, by (source,
    target); at most ``limit + 1`` rows."""
    if not schema.has_graph or not hashes:
        return []
    found: list[Sequence[Any]] = []
    for part in _chunks(list(dict.fromkeys(hashes))):
        marks = ",".join("?" * len(part))
        sides = {
            "out": f"g.source_hash IN ({marks})",
            "in": f"g.target_hash IN ({marks})",
            "both": f"(g.source_hash IN ({marks}) OR g.target_hash IN ({marks}))",
        }[direction]
        params: list[Any] = [*part, *part] if direction == "both" else [*part]
        rel = ""
        if relationship is not None:
            rel = " AND COALESCE(g.relationship_type, 'related') = ?"
            params.append(relationship)
        found.extend(
            conn.execute(
                f"SELECT {columns} FROM memory_graph g WHERE {sides}{rel} "
                "ORDER BY g.source_hash, g.target_hash LIMIT ?",
                [*params, limit - len(found) + 1],
            ).fetchall()
        )
        if len(found) > limit:
            break
    found.sort(key=lambda r: (text(r[0]), text(r[1])))
    return found[: limit + 1]


def edges(
    conn: apsw.Connection,
    schema: Schema,
    hashes: Sequence[str],
    *,
    direction: Direction,
    relationship: str | None,
    limit: int,
) -> list[Edge]:
    """Edges leaving (``out``), entering (``in``) or touching (``both``) any of ``hashes``,
    ordered by (source, target); at most ``limit`` (the caller treats a full answer as "too
    many")."""
    rows = _edge_rows(
        conn, schema, hashes, EDGE_COLUMNS, direction=direction, relationship=relationship,
        limit=limit,
    )  # fmt: skip
    return [_edge(r) for r in rows]


def edge_ends(
    conn: apsw.Connection,
    schema: Schema,
    hashes: Sequence[str],
    *,
    direction: Direction,
    relationship: str | None,
    limit: int,
) -> list[tuple[str, str]]:
    """:func:`edges` as ``(source, target)`` only: a walk needs no edge's JSON columns, and
    decoding them was most of a long ``path``'s time."""
    rows = _edge_rows(
        conn, schema, hashes, "g.source_hash, g.target_hash", direction=direction,
        relationship=relationship, limit=limit,
    )  # fmt: skip
    return [(text(source), text(target)) for source, target in rows]


def edges_among(conn: apsw.Connection, schema: Schema, nodes: Sequence[str]) -> list[Edge]:
    """Edges whose both ends are in ``nodes`` (a subgraph; the caller bounds ``nodes``)."""
    if not schema.has_graph or not nodes:
        return []
    unique = list(dict.fromkeys(nodes))
    if len(unique) > CHUNK:
        raise ValueError(f"a subgraph of at most {CHUNK} nodes, not {len(unique)}")
    marks = ",".join("?" * len(unique))
    rows = conn.execute(
        f"SELECT {EDGE_COLUMNS} FROM memory_graph g "
        f"WHERE g.source_hash IN ({marks}) AND g.target_hash IN ({marks}) "
        "ORDER BY g.source_hash, g.target_hash",
        [*unique, *unique],
    ).fetchall()
    return [_edge(r) for r in rows]


def edges_of_type(
    conn: apsw.Connection, schema: Schema, relationship: str, limit: int
) -> list[Edge]:
    if not schema.has_graph:
        return []
    rows = conn.execute(
        f"SELECT {EDGE_COLUMNS} FROM memory_graph g "
        "WHERE COALESCE(g.relationship_type, 'related') = ? "
        "ORDER BY g.source_hash, g.target_hash LIMIT ?",
        (relationship, limit + 1),
    ).fetchall()
    return [_edge(r) for r in rows]


def entity_counts(conn: apsw.Connection, schema: Schema, limit: int) -> list[EntityCount]:
    """12.x's ``list_entities``: the most linked entity names first."""
    if not schema.has_graph:
        return []
    rows = conn.execute(
        "SELECT target_hash, COUNT(*) AS n, MAX(created_at) FROM memory_graph "
        "WHERE relationship_type = ? GROUP BY target_hash ORDER BY n DESC, target_hash LIMIT ?",
        (HAS_ENTITY, limit),
    ).fetchall()
    return [
        EntityCount(name=text(r[0]), count=as_int(r[1]), last_activity=epoch(r[2])) for r in rows
    ]


def entity_memories(conn: apsw.Connection, schema: Schema, name: str, limit: int) -> list[str]:
    """12.x's ``find_memories_by_entity``: the memories linked to ``name``, newest link first."""
    if not schema.has_graph:
        return []
    rows = conn.execute(
        # "+": never idx_graph_relationship, which SQLite prefers without statistics (every
        # has_entity row of the store) to idx_graph_target (this entity's rows)
        "SELECT source_hash FROM memory_graph WHERE target_hash = ? AND +relationship_type = ? "
        "ORDER BY created_at DESC, source_hash LIMIT ?",
        (name, HAS_ENTITY, limit),
    ).fetchall()
    return [text(r[0]) for r in rows]


def entity_profiles(
    conn: apsw.Connection, schema: Schema, names: Sequence[str]
) -> dict[str, EntityProfile]:
    """12.x's ``get_entity_profile`` for each of ``names`` (those with rows)."""
    if not schema.has_graph or not names:
        return {}
    counts: dict[str, tuple[int, float | None]] = {}
    types: dict[str, set[str]] = {}
    for part in _chunks(list(dict.fromkeys(names))):
        marks = ",".join("?" * len(part))
        where = f"WHERE target_hash IN ({marks}) AND +relationship_type = ?"  # idx_graph_target
        for name, n, newest in conn.execute(
            f"SELECT target_hash, COUNT(*), MAX(created_at) FROM memory_graph {where} "
            "GROUP BY target_hash",
            [*part, HAS_ENTITY],
        ):
            counts[text(name)] = (as_int(n), epoch(newest))
        for name, meta in conn.execute(
            f"SELECT DISTINCT target_hash, metadata FROM memory_graph {where}", [*part, HAS_ENTITY]
        ):
            kind = entity_type_of(optional_text(meta))
            if kind is not None:
                types.setdefault(text(name), set()).add(kind)
    return {
        name: EntityProfile(
            name=name, count=n, last_activity=newest, types=sorted(types.get(name, ()))
        )
        for name, (n, newest) in counts.items()
    }


def conflicts(conn: apsw.Connection, schema: Schema) -> list[Conflict]:
    """12.x's ``get_conflicts``: ``contradicts`` pairs of live, current memories, every store."""
    if not schema.has_graph:
        return []
    current = "({a}.superseded_by IS NULL OR {a}.superseded_by = '')"
    rows = conn.execute(
        "SELECT g.source_hash, g.target_hash, g.similarity, g.metadata, m1.content, m2.content "
        "FROM memory_graph g "
        "JOIN memories m1 ON m1.content_hash = g.source_hash "
        "JOIN memories m2 ON m2.content_hash = g.target_hash "
        "WHERE g.relationship_type = 'contradicts' "
        f"AND m1.deleted_at IS NULL AND {current.format(a='m1')} "
        f"AND m2.deleted_at IS NULL AND {current.format(a='m2')} "
        "AND g.source_hash < g.target_hash ORDER BY g.source_hash, g.target_hash"
    ).fetchall()
    return [
        Conflict(
            hash_a=text(r[0]),
            hash_b=text(r[1]),
            similarity=float(r[2]) if isinstance(r[2], int | float) else 0.0,
            edge_metadata=decode_edge_metadata(optional_text(r[3])),
            content_a=text(r[4]),
            content_b=text(r[5]),
        )
        for r in rows
    ]


def lineage(conn: apsw.Connection, schema: Schema, content_hash: str) -> Lineage | None:
    cols = schema.memory_columns

    def col(name: str) -> str:
        return f"m.{name}" if name in cols else "NULL"

    rows = conn.execute(
        f"SELECT {col('parent_id')}, {col('version')}, {col('superseded_by')}, "
        f"{col('confidence')}, {col('last_accessed')} FROM memories m "
        f"WHERE m.content_hash = ? AND {sql_filters.visible(schema, None)}",
        (content_hash,),
    ).fetchall()
    if not rows:
        return None
    parent, version, superseded, confidence, accessed = rows[0]
    return Lineage(
        content_hash=content_hash,
        parent_id=optional_text(parent) or None,
        version=version if isinstance(version, int) else 1,
        superseded_by=optional_text(superseded) or None,
        confidence=float(confidence) if isinstance(confidence, int | float) else None,
        last_accessed=accessed if isinstance(accessed, int) else None,
    )


class GraphReads:
    """The snapshot's graph reads (mixed into ``SqliteSnapshot``)."""

    conn: apsw.Connection
    schema: Schema

    def edges(
        self,
        hashes: Sequence[str],
        *,
        direction: Direction,
        relationship: str | None = None,
        limit: int,
    ) -> list[Edge]:
        return edges(
            self.conn, self.schema, hashes, direction=direction, relationship=relationship,
            limit=limit,
        )  # fmt: skip

    def edge_ends(
        self,
        hashes: Sequence[str],
        *,
        direction: Direction,
        relationship: str | None = None,
        limit: int,
    ) -> list[tuple[str, str]]:
        return edge_ends(
            self.conn, self.schema, hashes, direction=direction, relationship=relationship,
            limit=limit,
        )  # fmt: skip

    def edges_among(self, nodes: Sequence[str]) -> list[Edge]:
        return edges_among(self.conn, self.schema, nodes)

    def edges_of_type(self, relationship: str, limit: int) -> list[Edge]:
        return edges_of_type(self.conn, self.schema, relationship, limit)

    def entity_counts(self, limit: int) -> list[EntityCount]:
        return entity_counts(self.conn, self.schema, limit)

    def entity_memories(self, name: str, limit: int) -> list[str]:
        return entity_memories(self.conn, self.schema, name, limit)

    def entity_profiles(self, names: Sequence[str]) -> dict[str, EntityProfile]:
        return entity_profiles(self.conn, self.schema, names)

    def conflicts(self) -> list[Conflict]:
        return conflicts(self.conn, self.schema)

    def lineage(self, content_hash: str) -> Lineage | None:
        return lineage(self.conn, self.schema, content_hash)


# ---------------------------------------------------------------------------------------------
# writes


def put_edges(batch: writes.WriteBatch, items: Sequence[Edge], *, replace: bool) -> int:
    """Write edges as 12.x does: ``INSERT OR REPLACE`` (associations, contradictions) or
    ``INSERT OR IGNORE`` (entity links); the number of rows written."""
    if not batch.schema.has_graph:
        raise BadRequest(NO_GRAPH)
    verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
    before = batch.conn.total_changes()
    batch.conn.executemany(
        f"{verb} INTO memory_graph (source_hash, target_hash, similarity, connection_types, "
        "metadata, created_at, relationship_type) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                e.source,
                e.target,
                e.similarity,
                json.dumps(e.connection_types),
                json.dumps(e.metadata),
                e.created_at,
                e.relationship_type,
            )
            for e in items
        ],
    )
    return int(batch.conn.total_changes() - before)


def delete_edges(batch: writes.WriteBatch, pairs: Sequence[tuple[str, str]]) -> int:
    if not batch.schema.has_graph or not pairs:
        return 0
    before = batch.conn.total_changes()
    batch.conn.executemany(
        "DELETE FROM memory_graph WHERE source_hash = ? AND target_hash = ?", list(pairs)
    )
    return int(batch.conn.total_changes() - before)


def _live_row(
    batch: writes.WriteBatch, content_hash: str
) -> tuple[int, str, m.MemoryRecord] | None:
    rows = batch.conn.execute(
        f"SELECT m.id, {store_column(batch.schema)}, {record_columns(batch.schema)} "
        f"FROM memories m WHERE m.content_hash = ? AND {sql_filters.visible(batch.schema, None)}",
        (content_hash,),
    ).fetchall()
    if not rows:
        return None
    rowid, store_name, *columns = rows[0]
    return as_int(rowid), text(store_name, DEFAULT_STORE), row_to_record(columns)


def _record_update(
    batch: writes.WriteBatch, rowid: int, store: str, old: m.MemoryRecord, new: m.MemoryRecord
) -> None:
    batch.record(
        Change(
            kind="updated",
            content_hash=old.content_hash,
            row=rowid,
            memory=new,
            before=Facets.of(old, store),
            store=store,
        )
    )


def resolve_conflict(batch: writes.WriteBatch, winner_hash: str, loser_hash: str) -> None:
    """12.x's ``resolve_conflict``: the loser is superseded by the winner, the winner's
    confidence becomes 1.0 (and ``last_accessed`` now), ``conflict:unresolved`` leaves both
    rows' tags. No edge is removed (12.x keeps them; the superseded filter hides the pair).

    Raises:
        NotFound: either memory is not live, with 12.x's message.
    """
    schema = batch.schema
    if not schema.has_superseded:
        raise BadRequest("this database has no superseded_by column: it cannot record a winner")
    found = {}
    for h, label in ((winner_hash, "Winner"), (loser_hash, "Loser")):
        row = _live_row(batch, h)
        if row is None:
            raise NotFound(f"{label} memory {h} not found or deleted")
        found[h] = row
    conn = batch.conn
    conn.execute(
        "UPDATE memories SET superseded_by = ? WHERE content_hash = ? AND deleted_at IS NULL",
        (winner_hash, loser_hash),
    )
    if "confidence" in schema.memory_columns and "last_accessed" in schema.memory_columns:
        conn.execute(
            "UPDATE memories SET confidence = 1.0, last_accessed = ? "
            "WHERE content_hash = ? AND deleted_at IS NULL",
            (int(batch.now), winner_hash),
        )
    for h in dict.fromkeys((winner_hash, loser_hash)):
        rowid, store, old = found[h]
        raw = conn.execute("SELECT tags FROM memories WHERE id = ?", (rowid,)).fetchall()[0][0]
        new = old
        if isinstance(raw, str) and raw:
            # 12.x's own rewrite of the CSV (strip each item, drop the conflict tag).
            kept = [t.strip() for t in raw.split(",") if t.strip() != CONFLICT_TAG]
            csv = ",".join(kept)
            conn.execute("UPDATE memories SET tags = ? WHERE id = ?", (csv, rowid))
            new = attrs.evolve(old, tags=tags_from_db(csv))
        _record_update(batch, rowid, store, old, new)


def supersede(
    batch: writes.WriteBatch, old_hash: str, item: NewMemory, *, reason: str | None
) -> m.MemoryRecord:
    """12.x's ``update_memory_versioned`` in one transaction: ``item`` is stored in the old
    memory's store as version ``old.version + 1`` with ``parent_id`` = the old hash, and the
    old memory (which keeps its vector) gets ``superseded_by`` (column and metadata) and,
    given a reason, ``metadata.evolution_reason``. Nothing is written if any step fails.

    Raises:
        NotFound: ``Memory <h> not found``.
        Duplicate: the new content already exists.
        BadRequest: the old version is no longer current, or the file has no version columns.
    """
    schema = batch.schema
    if not {"parent_id", "version", "superseded_by"} <= schema.memory_columns:
        raise BadRequest("versioned updates are not supported by the current storage backend.")
    conn = batch.conn
    found = _live_row(batch, old_hash)
    if found is None:
        raise NotFound(f"Memory {old_hash} not found")
    rowid, store, old = found
    current = lineage(conn, schema, old_hash)
    version = current.version if current is not None else 1
    record = writes.store(batch, attrs.evolve(item, store=store, skip_semantic_dedup=True))
    conn.execute(
        "UPDATE memories SET parent_id = ?, version = ? WHERE content_hash = ? "
        "AND deleted_at IS NULL",
        (old_hash, (version or 1) + 1, record.content_hash),
    )
    meta = dict(old.metadata)
    meta["superseded_by"] = record.content_hash
    if reason:
        meta["evolution_reason"] = reason
    linked = conn.execute(
        "UPDATE memories SET superseded_by = ?, metadata = ? WHERE id = ? AND deleted_at IS NULL "
        "AND (superseded_by IS NULL OR superseded_by = '') RETURNING id",
        (record.content_hash, json.dumps(meta), rowid),
    ).fetchall()
    if not linked:
        raise BadRequest(
            f"Failed to link version: old version {old_hash[:8]} is no longer current "
            "(concurrent update)"
        )
    _record_update(batch, rowid, store, old, attrs.evolve(old, metadata=meta))
    return record


def get_in_txn(batch: writes.WriteBatch, content_hash: str) -> m.MemoryRecord | None:
    return get_by_hash(batch.conn, batch.schema, content_hash)


class GraphWrites:
    """The write call's graph and evolution operations (mixed into ``SqliteWriteTxn``)."""

    batch: writes.WriteBatch

    def get(self, content_hash: str) -> m.MemoryRecord | None:
        return get_in_txn(self.batch, content_hash)

    def entity_memories(self, name: str, limit: int) -> list[str]:
        return entity_memories(self.batch.conn, self.batch.schema, name, limit)

    def put_edges(self, items: Sequence[Edge], *, replace: bool) -> int:
        return put_edges(self.batch, items, replace=replace)

    def delete_edges(self, pairs: Sequence[tuple[str, str]]) -> int:
        return delete_edges(self.batch, pairs)

    def resolve_conflict(self, winner_hash: str, loser_hash: str) -> None:
        resolve_conflict(self.batch, winner_hash, loser_hash)

    def supersede(self, old_hash: str, item: NewMemory, *, reason: str | None) -> m.MemoryRecord:
        return supersede(self.batch, old_hash, item, reason=reason)
