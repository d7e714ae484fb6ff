"""The PostgreSQL engine's memory graph and memory evolution: the SQLite engine's semantics.

The team layout holds a ``memory_graph`` table of 12.x's shape (``ddl.py``). A team store
created before it existed lacks it: its graph reads are empty and its graph writes ask for
``memhub team init`` to be run again (which adds the table and changes nothing else).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs
import psycopg

from memhub.domain.tags import tags_from_db
from memhub.errors import BadRequest, NotFound
from memhub.storage.model import Change, Facets
from memhub.storage.postgres import queries
from memhub.storage.postgres import writes as pg_writes
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

if TYPE_CHECKING:
    from memhub.protocol import messages as m
    from memhub.storage.model import NewMemory

Cursor = psycopg.Cursor[Any]
EDGE_COLUMNS: Final = (
    "g.source_hash, g.target_hash, g.similarity, g.connection_types, g.metadata, "
    "COALESCE(g.relationship_type, 'related'), g.created_at"
)
NO_GRAPH: Final = (
    "this team store predates memhub's memory graph: run `memhub team init` again "
    "(it adds the memory_graph table and changes nothing else)"
)


def has_graph(cur: Cursor) -> bool:
    cur.execute("SELECT to_regclass('memory_graph') IS NOT NULL")
    row = cur.fetchone()
    return bool(row and row[0])


def drop_edges_of(cur: Cursor, hashes: Sequence[str]) -> None:
    """A soft delete drops every edge touching the memory (as 12.x's delete does)."""
    if hashes and has_graph(cur):
        cur.execute(
            "DELETE FROM memory_graph WHERE source_hash = ANY(%s) OR target_hash = ANY(%s)",
            (list(hashes), list(hashes)),
        )


def _edge(row: Sequence[Any]) -> Edge:
    source, target, similarity, kinds, meta, relationship, created = row
    return Edge(
        source=source,
        target=target,
        similarity=float(similarity or 0.0),
        connection_types=decode_connection_types(kinds),
        metadata=decode_edge_metadata(meta),
        relationship_type=relationship or "related",
        created_at=float(created or 0.0),
    )


class GraphReads:
    """The snapshot's graph reads (mixed into ``PgSnapshot``)."""

    cur: Cursor

    def edges(
        self,
        hashes: Sequence[str],
        *,
        direction: Direction,
        relationship: str | None = None,
        limit: int,
    ) -> list[Edge]:
        rows = self._edge_rows(hashes, EDGE_COLUMNS, direction, relationship, limit)
        return [_edge(r) for r in rows]

    def edge_ends(
        self,
        hashes: Sequence[str],
        *,
        direction: Direction,
        relationship: str | None = None,
        limit: int,
    ) -> list[tuple[str, str]]:
        columns = "g.source_hash, g.target_hash"
        rows = self._edge_rows(hashes, columns, direction, relationship, limit)
        return [(str(source), str(target)) for source, target in rows]

    def _edge_rows(
        self,
        hashes: Sequence[str],
        columns: str,
        direction: Direction,
        relationship: str | None,
        limit: int,
    ) -> list[Any]:
        if not hashes or not has_graph(self.cur):
            return []
        wanted = list(dict.fromkeys(hashes))
        sides = {
            "out": "g.source_hash = ANY(%(h)s)",
            "in": "g.target_hash = ANY(%(h)s)",
            "both": "(g.source_hash = ANY(%(h)s) OR g.target_hash = ANY(%(h)s))",
        }[direction]
        rel = " AND COALESCE(g.relationship_type, 'related') = %(r)s" if relationship else ""
        self.cur.execute(
            f"SELECT {columns} FROM memory_graph g WHERE {sides}{rel} "
            'ORDER BY g.source_hash COLLATE "C", g.target_hash COLLATE "C" LIMIT %(n)s',
            {"h": wanted, "r": relationship, "n": limit + 1},
        )
        return self.cur.fetchall()

    def edges_among(self, nodes: Sequence[str]) -> list[Edge]:
        if not nodes or not has_graph(self.cur):
            return []
        unique = list(dict.fromkeys(nodes))
        if len(unique) > 500:
            raise ValueError(f"a subgraph of at most 500 nodes, not {len(unique)}")
        self.cur.execute(
            f"SELECT {EDGE_COLUMNS} FROM memory_graph g "
            "WHERE g.source_hash = ANY(%s) AND g.target_hash = ANY(%s) "
            'ORDER BY g.source_hash COLLATE "C", g.target_hash COLLATE "C"',
            (unique, unique),
        )
        return [_edge(r) for r in self.cur.fetchall()]

    def edges_of_type(self, relationship: str, limit: int) -> list[Edge]:
        if not has_graph(self.cur):
            return []
        self.cur.execute(
            f"SELECT {EDGE_COLUMNS} FROM memory_graph g "
            "WHERE COALESCE(g.relationship_type, 'related') = %s "
            'ORDER BY g.source_hash COLLATE "C", g.target_hash COLLATE "C" LIMIT %s',
            (relationship, limit + 1),
        )
        return [_edge(r) for r in self.cur.fetchall()]

    def entity_counts(self, limit: int) -> list[EntityCount]:
        if not has_graph(self.cur):
            return []
        self.cur.execute(
            "SELECT target_hash, COUNT(*) AS n, MAX(created_at) FROM memory_graph "
            "WHERE relationship_type = %s GROUP BY target_hash "
            'ORDER BY n DESC, target_hash COLLATE "C" LIMIT %s',
            (HAS_ENTITY, limit),
        )
        return [
            EntityCount(
                name=r[0], count=int(r[1]), last_activity=float(r[2]) if r[2] is not None else None
            )
            for r in self.cur.fetchall()
        ]

    def entity_memories(self, name: str, limit: int) -> list[str]:
        return entity_memories(self.cur, name, limit)

    def entity_profiles(self, names: Sequence[str]) -> dict[str, EntityProfile]:
        if not names or not has_graph(self.cur):
            return {}
        wanted = list(dict.fromkeys(names))
        where = "WHERE target_hash = ANY(%s) AND relationship_type = %s"
        self.cur.execute(
            f"SELECT target_hash, COUNT(*), MAX(created_at) FROM memory_graph {where} "
            "GROUP BY target_hash",
            (wanted, HAS_ENTITY),
        )
        counts = {
            r[0]: (int(r[1]), float(r[2]) if r[2] is not None else None)
            for r in self.cur.fetchall()
        }
        self.cur.execute(
            f"SELECT DISTINCT target_hash, metadata FROM memory_graph {where}", (wanted, HAS_ENTITY)
        )
        types: dict[str, set[str]] = {}
        for name, meta in self.cur.fetchall():
            kind = entity_type_of(meta)
            if kind is not None:
                types.setdefault(name, set()).add(kind)
        return {
            name: EntityProfile(
                name=name, count=n, last_activity=newest, types=sorted(types.get(name, ()))
            )
            for name, (n, newest) in counts.items()
        }

    def conflicts(self) -> list[Conflict]:
        if not has_graph(self.cur):
            return []
        current = "({a}.superseded_by IS NULL OR {a}.superseded_by = '')"
        self.cur.execute(
            "SELECT g.source_hash, g.target_hash, g.similarity, g.metadata, m1.content, "
            "m2.content FROM memory_graph g "
            "JOIN memories m1 ON m1.content_hash = g.source_hash "
            "JOIN memories m2 ON m2.content_hash = g.target_hash "
            "WHERE g.relationship_type = 'contradicts' "
            f"AND m1.deleted_at IS NULL AND {current.format(a='m1')} "
            f"AND m2.deleted_at IS NULL AND {current.format(a='m2')} "
            # 12.x compares hashes bytewise (SQLite's BINARY collation)
            'AND g.source_hash COLLATE "C" < g.target_hash COLLATE "C" '
            'ORDER BY g.source_hash COLLATE "C", g.target_hash COLLATE "C"'
        )
        return [
            Conflict(
                hash_a=r[0],
                hash_b=r[1],
                similarity=float(r[2] or 0.0),
                edge_metadata=decode_edge_metadata(r[3]),
                content_a=r[4],
                content_b=r[5],
            )
            for r in self.cur.fetchall()
        ]

    def lineage(self, content_hash: str) -> Lineage | None:
        return lineage(self.cur, content_hash)


def entity_memories(cur: Cursor, name: str, limit: int) -> list[str]:
    if not has_graph(cur):
        return []
    cur.execute(
        "SELECT source_hash FROM memory_graph "
        "WHERE target_hash = %s AND relationship_type = %s "
        'ORDER BY created_at DESC, source_hash COLLATE "C" LIMIT %s',
        (name, HAS_ENTITY, limit),
    )
    return [r[0] for r in cur.fetchall()]


def lineage(cur: Cursor, content_hash: str) -> Lineage | None:
    cur.execute(
        "SELECT parent_id, version, superseded_by, confidence, last_accessed FROM memories "
        "WHERE content_hash = %s AND deleted_at IS NULL",
        (content_hash,),
    )
    row = cur.fetchone()
    if row is None:
        return None
    parent, version, superseded, confidence, accessed = row
    return Lineage(
        content_hash=content_hash,
        parent_id=parent or None,
        version=int(version) if version is not None else 1,
        superseded_by=superseded or None,
        confidence=float(confidence) if confidence is not None else None,
        last_accessed=int(accessed) if accessed is not None else None,
    )


def _live_row(cur: Cursor, content_hash: str) -> tuple[int, str, m.MemoryRecord] | None:
    cur.execute(
        f"SELECT m.id, m.store, {queries.COLUMNS} FROM memories m "
        "WHERE m.content_hash = %s AND m.deleted_at IS NULL",
        (content_hash,),
    )
    row = cur.fetchone()
    if row is None:
        return None
    rowid, store, *columns = row
    return int(rowid), store, queries.row_to_record(columns, for_reply=False)


def _record_update(
    batch: pg_writes.PgBatch, rowid: int, store: str, old: m.MemoryRecord, new: m.MemoryRecord
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


class GraphWrites:
    """The write call's graph and evolution operations (mixed into ``PgWriteTxn``)."""

    batch: pg_writes.PgBatch

    def get(self, content_hash: str) -> m.MemoryRecord | None:
        return queries.get_by_hash(self.batch.cur, content_hash)

    def entity_memories(self, name: str, limit: int) -> list[str]:
        return entity_memories(self.batch.cur, name, limit)

    def put_edges(self, items: Sequence[Edge], *, replace: bool) -> int:
        cur = self.batch.cur
        if not has_graph(cur):
            raise BadRequest(NO_GRAPH)
        conflict = (
            "DO UPDATE SET similarity = EXCLUDED.similarity, "
            "connection_types = EXCLUDED.connection_types, metadata = EXCLUDED.metadata, "
            "created_at = EXCLUDED.created_at, relationship_type = EXCLUDED.relationship_type"
            if replace
            else "DO NOTHING"
        )
        written = 0
        for e in items:
            cur.execute(
                "INSERT INTO memory_graph (source_hash, target_hash, similarity, "
                "connection_types, metadata, created_at, relationship_type) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) "
                f"ON CONFLICT (source_hash, target_hash) {conflict}",
                (
                    e.source,
                    e.target,
                    e.similarity,
                    json.dumps(e.connection_types),
                    json.dumps(e.metadata),
                    e.created_at,
                    e.relationship_type,
                ),
            )
            written += cur.rowcount
        return written

    def delete_edges(self, pairs: Sequence[tuple[str, str]]) -> int:
        cur = self.batch.cur
        if not pairs or not has_graph(cur):
            return 0
        cur.execute(
            "DELETE FROM memory_graph g USING unnest(%s::text[], %s::text[]) AS p(s, t) "
            "WHERE g.source_hash = p.s AND g.target_hash = p.t",
            ([s for s, _ in pairs], [t for _, t in pairs]),
        )
        return cur.rowcount

    def resolve_conflict(self, winner_hash: str, loser_hash: str) -> None:
        batch = self.batch
        cur = batch.cur
        found = {}
        for h, label in ((winner_hash, "Winner"), (loser_hash, "Loser")):
            row = _live_row(cur, h)
            if row is None:
                raise NotFound(f"{label} memory {h} not found or deleted")
            found[h] = row
        cur.execute(
            "UPDATE memories SET superseded_by = %s WHERE content_hash = %s AND deleted_at IS NULL",
            (winner_hash, loser_hash),
        )
        cur.execute(
            "UPDATE memories SET confidence = 1.0, last_accessed = %s "
            "WHERE content_hash = %s AND deleted_at IS NULL",
            (int(batch.now), winner_hash),
        )
        for h in dict.fromkeys((winner_hash, loser_hash)):
            rowid, store, old = found[h]
            cur.execute("SELECT tags FROM memories WHERE id = %s", (rowid,))
            raw = cur.fetchone()[0]  # type: ignore[index]
            new = old
            if raw:
                csv = ",".join(t.strip() for t in raw.split(",") if t.strip() != CONFLICT_TAG)
                cur.execute("UPDATE memories SET tags = %s WHERE id = %s", (csv, rowid))
                new = attrs.evolve(old, tags=tags_from_db(csv))
            _record_update(batch, rowid, store, old, new)

    def supersede(self, old_hash: str, item: NewMemory, *, reason: str | None) -> m.MemoryRecord:
        batch = self.batch
        cur = batch.cur
        found = _live_row(cur, old_hash)
        if found is None:
            raise NotFound(f"Memory {old_hash} not found")
        rowid, store, old = found
        current = lineage(cur, old_hash)
        version = current.version if current is not None else 1
        record = pg_writes.store(batch, attrs.evolve(item, store=store, skip_semantic_dedup=True))
        cur.execute(
            "UPDATE memories SET parent_id = %s, version = %s "
            "WHERE content_hash = %s AND deleted_at IS NULL",
            (old_hash, (version or 1) + 1, record.content_hash),
        )
        meta = dict(old.metadata)
        meta["superseded_by"] = record.content_hash
        if reason:
            meta["evolution_reason"] = reason
        cur.execute(
            "UPDATE memories SET superseded_by = %s, metadata = %s WHERE id = %s "
            "AND deleted_at IS NULL AND (superseded_by IS NULL OR superseded_by = '') "
            "RETURNING id",
            (record.content_hash, json.dumps(meta), rowid),
        )
        if cur.fetchone() is None:
            raise BadRequest(
                f"Failed to link version: old version {old_hash[:8]} is no longer current "
                "(concurrent update)"
            )
        _record_update(batch, rowid, store, old, attrs.evolve(old, metadata=meta))
        return record
