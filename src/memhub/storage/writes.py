"""The storage engine's write side: pure sync functions that run inside the writer's transaction.

Every function here takes a :class:`WriteBatch` (the writer's connection, the schema, the vector
mirror and what this batch has done so far) and runs between the writer's ``BEGIN IMMEDIATE``
and ``COMMIT``, inside a SAVEPOINT of its own. None of them commits, embeds or sleeps: the
writer owns the transaction, the embedder ran before the write was queued.

The semantics are mcp-memory-service's: content hash of the stripped lower-cased
text, tags as a lowercase CSV, REAL epochs plus ISO strings, soft delete that drops the vector
and graph edges, tombstone purge before a re-insert. What memhub adds is atomicity: the
duplicate checks and the insert happen in one write transaction, so two clients storing the
same text at once get one "stored" and one "duplicate", never an IntegrityError.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import apsw
import attrs

from memhub.domain.tags import read_back, tags_to_db
from memhub.domain.timestamps import iso_utc
from memhub.errors import Duplicate, NotFound
from memhub.protocol import messages as m
from memhub.storage.queries import ROW_COLUMNS, duplicate_rows, row_to_record
from memhub.storage.schema import Schema
from memhub.storage.sqlvalues import as_float, as_str
from memhub.storage.vectors import FloatArray, VectorIndex, normalized, vector_to_blob


@attrs.frozen(kw_only=True)
class DedupPolicy:
    """Semantic dedup settings (the ``MCP_SEMANTIC_DEDUP_*`` variables)."""

    enabled: bool = True
    window_hours: float = 24.0
    threshold: float = 0.85


@attrs.frozen(kw_only=True)
class NewMemory:
    """A validated memory ready to insert: normalized tags, canonical type, its vector."""

    content: str
    content_hash: str
    tags: list[str]
    memory_type: str
    metadata: dict[str, Any]
    vector: FloatArray = attrs.field(eq=False)
    skip_semantic_dedup: bool = False


@attrs.define
class WriteBatch:
    """State of one write transaction, shared by the commands it runs."""

    conn: apsw.Connection
    schema: Schema
    index: VectorIndex | None
    dedup: DedupPolicy
    now: float = attrs.field(factory=time.time)
    #: rows inserted in this transaction: (rowid, unit vector, created_at, content_hash)
    inserted: list[tuple[int, FloatArray, float, str]] = attrs.field(factory=list)
    removed: list[int] = attrs.field(factory=list)
    events: list[m.Event] = attrs.field(factory=list)

    def mark(self) -> tuple[int, int, int]:
        return len(self.inserted), len(self.removed), len(self.events)

    def rollback_to(self, mark: tuple[int, int, int]) -> None:
        """Forget what a command did after its SAVEPOINT was rolled back."""
        del self.inserted[mark[0] :]
        del self.removed[mark[1] :]
        del self.events[mark[2] :]


# ---------------------------------------------------------------------------------------------
# store


def store(batch: WriteBatch, item: NewMemory) -> m.MemoryRecord:
    """Insert one memory after the exact and semantic duplicate checks.

    Raises:
        Duplicate: an active memory has the same hash, or (semantic dedup) a very similar
            vector within the time window. ``detail["content_hash"]`` names it.
    """
    conn, schema = batch.conn, batch.schema
    _check_exact_duplicate(conn, schema, item.content_hash)
    if batch.dedup.enabled and not item.skip_semantic_dedup:
        _check_semantic_duplicate(batch, item.vector)
    _purge_tombstone(conn, item.content_hash)
    now = batch.now
    iso = iso_utc(now)
    columns = [
        "content_hash",
        "content",
        "tags",
        "memory_type",
        "metadata",
        "created_at",
        "updated_at",
        "created_at_iso",
        "updated_at_iso",
    ]
    values: list[Any] = [
        item.content_hash,
        item.content,
        tags_to_db(item.tags),
        item.memory_type,
        json.dumps(item.metadata),
        now,
        now,
        iso,
        iso,
    ]
    if schema.has_store:
        columns.append("store")
        values.append("default")
    conn.execute(
        f"INSERT INTO memories ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        values,
    )
    rowid = conn.last_insert_rowid()
    blob = vector_to_blob(item.vector)
    # A stale vector can sit at a reused rowid if another writer left one behind.
    conn.execute("DELETE FROM memory_embeddings WHERE rowid = ?", (rowid,))
    if schema.vec_partitioned:
        conn.execute(
            "INSERT INTO memory_embeddings (rowid, content_embedding, store) "
            "VALUES (?, ?, 'default')",
            (rowid, blob),
        )
    else:
        conn.execute(
            "INSERT INTO memory_embeddings (rowid, content_embedding) VALUES (?, ?)",
            (rowid, blob),
        )
    batch.inserted.append((rowid, normalized(item.vector), now, item.content_hash))
    record = m.MemoryRecord(
        content_hash=item.content_hash,
        content=item.content,
        tags=read_back(item.tags),
        memory_type=item.memory_type,
        metadata=item.metadata,
        created_at=now,
        updated_at=now,
        created_at_iso=iso,
        updated_at_iso=iso,
    )
    batch.events.append(m.Event(kind="stored", content_hash=item.content_hash, memory=record))
    return record


def _check_exact_duplicate(conn: apsw.Connection, schema: Schema, content_hash: str) -> None:
    select = "SELECT store FROM memories" if schema.has_store else "SELECT NULL FROM memories"
    found = conn.execute(
        f"{select} WHERE content_hash = ? AND deleted_at IS NULL", (content_hash,)
    ).fetchall()
    if not found:
        return
    message = "Duplicate content detected (exact match)"
    other_store = found[0][0]
    if other_store not in (None, "default"):
        message += f"; already exists in store '{other_store}'"
    raise Duplicate(message, detail={"content_hash": content_hash, "kind": "exact"})


def _check_semantic_duplicate(batch: WriteBatch, vector: FloatArray) -> None:
    """Reject a vector within the dedup threshold of a memory from the time window.

    Runs inside the write transaction and also looks at rows inserted earlier in this batch,
    so two near-identical texts stored at the same moment cannot both get in.
    """
    conn, schema, policy = batch.conn, batch.schema, batch.dedup
    since = batch.now - policy.window_hours * 3600.0
    unit = normalized(vector)
    for _, other, created_at, content_hash in batch.inserted:
        if created_at >= since and float(other @ unit) >= policy.threshold:
            _raise_semantic(content_hash)
    if batch.index is not None:
        batch.index.catch_up(conn)
        rejected: list[int] = []
        while True:
            nearest = batch.index.nearest(unit, 4, created_since=since, exclude=rejected)
            for rowid, distance in nearest:
                if _similarity(schema, distance) < policy.threshold:
                    return
                found = conn.execute(
                    "SELECT content_hash FROM memories m WHERE id = ? AND "
                    + schema.active_filter("m"),
                    (rowid,),
                ).fetchall()
                if found:
                    _raise_semantic(as_str(found[0][0]))
                rejected.append(rowid)  # deleted since the mirror saw it: look further
            if len(nearest) < 4:
                return
    else:
        fn = "vec_distance_cosine" if schema.metric == "cosine" else "vec_distance_l2"
        found = conn.execute(
            f"SELECT m.content_hash, {fn}(e.content_embedding, ?) AS d FROM memories m "
            "JOIN memory_embeddings e ON e.rowid = m.id "
            f"WHERE m.created_at >= ? AND {schema.active_filter('m')} ORDER BY d LIMIT 1",
            (vector_to_blob(unit), since),
        ).fetchall()
        if found and _similarity(schema, as_float(found[0][1])) >= policy.threshold:
            _raise_semantic(as_str(found[0][0]))


def _similarity(schema: Schema, distance: float) -> float:
    """Cosine similarity from sqlite-vec's distance of unit vectors."""
    if schema.metric == "cosine":
        return 1.0 - distance
    return 1.0 - distance * distance / 2.0


def _raise_semantic(content_hash: str) -> None:
    raise Duplicate(
        f"Duplicate content detected (semantically similar to {content_hash})",
        detail={"content_hash": content_hash, "kind": "semantic"},
    )


def _purge_tombstone(conn: apsw.Connection, content_hash: str) -> None:
    """Hard-delete a soft-deleted row with this hash so the UNIQUE hash can be reused."""
    for (rowid,) in conn.execute(
        "SELECT id FROM memories WHERE content_hash = ? AND deleted_at IS NOT NULL",
        (content_hash,),
    ).fetchall():
        conn.execute("DELETE FROM memory_embeddings WHERE rowid = ?", (rowid,))
        conn.execute("DELETE FROM memories WHERE id = ?", (rowid,))


def store_session(batch: WriteBatch, chunks: Sequence[NewMemory]) -> list[str]:
    """Store the chunks of one session atomically (all or none); returns their hashes."""
    return [store(batch, chunk).content_hash for chunk in chunks]


# ---------------------------------------------------------------------------------------------
# delete, update, cleanup


def soft_delete(batch: WriteBatch, targets: Sequence[tuple[int, str]]) -> list[str]:
    """Soft-delete rows ``(rowid, content_hash)`` that are still active; return their hashes.

    As upstream: set ``deleted_at``, drop the vector and every graph edge touching the hash.
    """
    conn, schema = batch.conn, batch.schema
    deleted: list[str] = []
    for rowid, content_hash in targets:
        conn.execute(
            "UPDATE memories SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
            (batch.now, rowid),
        )
        if conn.changes() == 0:
            continue  # deleted by someone else since it was selected
        conn.execute("DELETE FROM memory_embeddings WHERE rowid = ?", (rowid,))
        if schema.has_graph:
            conn.execute(
                "DELETE FROM memory_graph WHERE source_hash = ? OR target_hash = ?",
                (content_hash, content_hash),
            )
        batch.removed.append(rowid)
        batch.events.append(m.Event(kind="deleted", content_hash=content_hash))
        deleted.append(content_hash)
    return deleted


def update(
    batch: WriteBatch,
    content_hash: str,
    *,
    tags: list[str] | None,
    memory_type: str | None,
    metadata: dict[str, Any] | None,
    preserve_timestamps: bool,
) -> tuple[m.MemoryRecord, list[str]]:
    """Replace tags, set the type, merge metadata; return the new record and changed fields.

    ``updated_at`` moves only when tags or type change (metadata-only updates keep it, as
    upstream); with ``preserve_timestamps=False`` it always moves. ``created_at`` never moves.

    Raises:
        NotFound: no active memory has this hash.
    """
    conn, schema = batch.conn, batch.schema
    rows = conn.execute(
        f"SELECT id, {ROW_COLUMNS} FROM memories m "
        f"WHERE content_hash = ? AND {schema.active_filter('m')}",
        (content_hash,),
    ).fetchall()
    if not rows:
        raise NotFound(f"Memory with hash {content_hash} not found")
    rowid, *columns = rows[0]
    old = row_to_record(columns)
    fields: list[str] = []
    new_tags = old.tags
    if tags is not None:
        new_tags = tags
        fields.append("tags")
    new_type = old.memory_type
    if memory_type is not None:
        new_type = memory_type
        fields.append("memory_type")
    new_meta = dict(old.metadata)
    if metadata:
        new_meta.update(metadata)
        fields.append("metadata")
    created_at, updated_at = old.created_at, old.updated_at
    if "tags" in fields or "memory_type" in fields or not preserve_timestamps:
        updated_at = batch.now
        fields.append("updated_at")
    conn.execute(
        "UPDATE memories SET tags = ?, memory_type = ?, metadata = ?, created_at = ?, "
        "created_at_iso = ?, updated_at = ?, updated_at_iso = ? WHERE id = ?",
        (
            tags_to_db(new_tags),
            new_type,
            json.dumps(new_meta),
            created_at,
            iso_utc(created_at),
            updated_at,
            iso_utc(updated_at),
            rowid,
        ),
    )
    record = attrs.evolve(
        old,
        tags=read_back(new_tags),
        memory_type=new_type,
        metadata=new_meta,
        created_at=created_at,
        created_at_iso=iso_utc(created_at),
        updated_at=updated_at,
        updated_at_iso=iso_utc(updated_at),
    )
    batch.events.append(m.Event(kind="updated", content_hash=content_hash, memory=record))
    return record, fields


def cleanup_duplicates(batch: WriteBatch) -> list[str]:
    """Soft-delete active rows whose hash repeats an older active row.

    ``content_hash`` is UNIQUE in every schema mcp-memory-service created, so this finds
    nothing there; it exists for files written by tools that dropped the constraint.
    """
    return soft_delete(batch, duplicate_rows(batch.conn, batch.schema))


def record_embedder(conn: apsw.Connection, name: str) -> None:
    """Remember which embedder wrote this file (so a fake one can never write here later)."""
    conn.execute(
        "INSERT OR REPLACE INTO metadata (key, value) VALUES ('memhub_embedder', ?)", (name,)
    )
