"""The SQLite engine's write side: sync functions that run inside the writer's transaction.

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
import numpy as np

from memhub.domain.tags import tags_from_db, tags_to_db
from memhub.domain.timestamps import iso_utc
from memhub.errors import BadRequest, Duplicate, NotFound
from memhub.protocol import messages as m
from memhub.storage.mirror import VectorIndex
from memhub.storage.model import (
    DEFAULT_STORE,
    DEFAULT_TYPE,
    Change,
    DedupPolicy,
    Facets,
    Filters,
    FloatArray,
    NewMemory,
)
from memhub.storage.sqlite import filters as sql_filters
from memhub.storage.sqlite.queries import (
    decode_metadata,
    duplicate_rows,
    record_columns,
    row_to_record,
    select_targets,
    store_column,
)
from memhub.storage.sqlite.schema import Schema
from memhub.storage.sqlite.values import as_int, epoch, optional_text, text
from memhub.storage.sqlite.vectors import tail_vectors, vector_to_blob
from memhub.storage.updates import plan_update


@attrs.define
class WriteBatch:
    """State of one write transaction, shared by the write calls it runs."""

    conn: apsw.Connection
    schema: Schema
    index: VectorIndex | None
    dedup: DedupPolicy
    origin: str = ""  # this machine, named in every change
    client: str = ""  # the client of the call running now (set by the session per call)
    now: float = attrs.field(factory=time.time)
    changes: list[Change] = attrs.field(factory=list)
    #: rows inserted in this transaction: (rowid, unit vector, created_at, content_hash)
    inserted: list[tuple[int, FloatArray, float, str]] = attrs.field(factory=list)
    #: how the counts of active and soft-deleted rows moved (the feed's fingerprint)
    active_delta: int = 0
    deleted_delta: int = 0

    def mark(self) -> tuple[int, int, int, int]:
        return len(self.changes), len(self.inserted), self.active_delta, self.deleted_delta

    def rollback_to(self, mark: tuple[int, int, int, int]) -> None:
        """Forget what a call did after its SAVEPOINT was rolled back."""
        del self.changes[mark[0] :]
        del self.inserted[mark[1] :]
        self.active_delta, self.deleted_delta = mark[2], mark[3]

    def record(self, change: Change) -> None:
        self.changes.append(attrs.evolve(change, client=self.client, origin=self.origin))

    @property
    def max_inserted(self) -> int:
        return max((row for row, *_ in self.inserted), default=0)


# ---------------------------------------------------------------------------------------------
# store


def store(batch: WriteBatch, item: NewMemory) -> m.MemoryRecord:
    """Insert one memory after the exact and semantic duplicate checks.

    Raises:
        Duplicate: an active memory has the same hash (in any store), or (semantic dedup) a
            very similar vector within the time window. ``detail["content_hash"]`` names it.
        BadRequest: a named store in a file of the 10.x layout, which has none.
    """
    conn, schema = batch.conn, batch.schema
    if item.store != DEFAULT_STORE and not schema.has_store:
        raise BadRequest(
            f"store {item.store!r}: this database has the mcp-memory-service 10.x layout, "
            "which holds only the default store; opening it once with mcp-memory-service 12.x "
            "migrates it to the 12.x layout, whose named stores memhub serves (stop memhub "
            "first: `memhub stop`)"
        )
    _check_exact_duplicate(conn, schema, item.content_hash)
    if batch.dedup.enabled and not item.skip_semantic_dedup:
        _check_semantic_duplicate(batch, item.vector, item.store)
    batch.deleted_delta -= _purge_tombstone(conn, item.content_hash)
    rowid = _insert(conn, schema, item, batch.now)
    batch.inserted.append((rowid, item.vector, batch.now, item.content_hash))
    batch.active_delta += 1
    record = item.record_at(batch.now)
    batch.record(item.stored_change(rowid, record))
    return record


def _insert(conn: apsw.Connection, schema: Schema, item: NewMemory, now: float) -> int:
    """The row and its vector, in the columns mcp-memory-service writes; the new row id."""
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
        values.append(item.store)
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
            "INSERT INTO memory_embeddings (rowid, content_embedding, store) VALUES (?, ?, ?)",
            (rowid, blob, item.store),
        )
    else:
        conn.execute(
            "INSERT INTO memory_embeddings (rowid, content_embedding) VALUES (?, ?)",
            (rowid, blob),
        )
    return rowid


def _check_exact_duplicate(conn: apsw.Connection, schema: Schema, content_hash: str) -> None:
    found = conn.execute(
        f"SELECT {store_column(schema)} FROM memories m "
        "WHERE m.content_hash = ? AND m.deleted_at IS NULL",
        (content_hash,),
    ).fetchall()
    if not found:
        return
    message = "Duplicate content detected (exact match)"
    other_store = found[0][0]
    if other_store not in (None, DEFAULT_STORE):
        message += f"; already exists in store '{text(other_store)}'"
    raise Duplicate(message, detail={"content_hash": content_hash, "kind": "exact"})


def _check_semantic_duplicate(batch: WriteBatch, vector: FloatArray, store: str) -> None:
    """Reject a vector within the dedup threshold of a memory of the time window.

    Runs inside the write transaction and looks at the rows inserted earlier in this batch, the
    mirror, and the rows committed after the mirror's position (read from this transaction), so
    two near-identical texts stored at the same moment cannot both get in.
    """
    conn, schema, policy = batch.conn, batch.schema, batch.dedup
    since = batch.now - policy.window_hours * 3600.0
    for _, other, created_at, content_hash in batch.inserted:
        if created_at >= since and float(other @ vector) >= policy.threshold:
            _raise_semantic(content_hash)
    recent = f"m.created_at >= ? AND {sql_filters.visible(schema, store)}"
    if batch.index is None:
        _check_semantic_by_vec0(batch, vector, since, recent)
        return
    index = batch.index
    rows, vecs = tail_vectors(conn, index.position, schema.dimension, recent, [since])
    if rows:
        sims = vecs @ vector
        best = int(np.argmax(sims))
        if float(sims[best]) >= policy.threshold:
            _raise_semantic(_hash_of(conn, rows[best]))
    rejected: list[int] = list(rows)
    while True:
        nearest = index.nearest(vector, 4, created_since=since, exclude=rejected)
        for rowid, distance in nearest:
            if _similarity(schema, distance) < policy.threshold:
                return
            found = conn.execute(
                f"SELECT m.content_hash FROM memories m WHERE m.id = ? AND {recent}",
                (rowid, since),
            ).fetchall()
            if found:
                _raise_semantic(text(found[0][0]))
            rejected.append(rowid)  # deleted since the mirror saw it: look further
        if len(nearest) < 4:
            return


def _check_semantic_by_vec0(
    batch: WriteBatch, vector: FloatArray, since: float, recent: str
) -> None:
    schema = batch.schema
    fn = "vec_distance_cosine" if schema.metric == "cosine" else "vec_distance_l2"
    found = batch.conn.execute(
        f"SELECT m.content_hash, {fn}(e.content_embedding, ?) AS d FROM memories m "
        f"JOIN memory_embeddings e ON e.rowid = m.id WHERE {recent} ORDER BY d LIMIT 1",
        (vector_to_blob(vector), since),
    ).fetchall()
    if (
        found
        and isinstance(found[0][1], float)
        and _similarity(schema, found[0][1]) >= batch.dedup.threshold
    ):
        _raise_semantic(text(found[0][0]))


def _hash_of(conn: apsw.Connection, rowid: int) -> str:
    rows = conn.execute("SELECT content_hash FROM memories WHERE id = ?", (rowid,)).fetchall()
    return text(rows[0][0]) if rows else ""


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


def _purge_tombstone(conn: apsw.Connection, content_hash: str) -> int:
    """Hard-delete soft-deleted rows with this hash so the UNIQUE hash can be reused."""
    purged = 0
    for (rowid,) in conn.execute(
        "SELECT id FROM memories WHERE content_hash = ? AND deleted_at IS NOT NULL",
        (content_hash,),
    ).fetchall():
        conn.execute("DELETE FROM memory_embeddings WHERE rowid = ?", (rowid,))
        conn.execute("DELETE FROM memories WHERE id = ?", (rowid,))
        purged += 1
    return purged


def store_session(batch: WriteBatch, chunks: Sequence[NewMemory]) -> list[str]:
    """Store the chunks of one session atomically (all or none); returns their hashes."""
    return [store(batch, chunk).content_hash for chunk in chunks]


# ---------------------------------------------------------------------------------------------
# delete, update, cleanup


def delete_matching(batch: WriteBatch, filters: Filters, content_hash: str | None) -> list[str]:
    return soft_delete(batch, select_targets(batch.conn, batch.schema, filters, content_hash))


def soft_delete(batch: WriteBatch, targets: Sequence[tuple[int, str]]) -> list[str]:
    """Soft-delete rows ``(rowid, content_hash)`` that are still active; return their hashes.

    As upstream: set ``deleted_at``, drop the vector and every graph edge touching the hash.
    """
    conn, schema = batch.conn, batch.schema
    deleted: list[str] = []
    for rowid, content_hash in targets:
        gone = conn.execute(
            "UPDATE memories SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL "
            f"RETURNING tags, memory_type, created_at, {store_column(schema, '')}",
            (batch.now, rowid),
        ).fetchall()
        if not gone:
            continue  # deleted by someone else since it was selected
        tags, memory_type, created_at, store_name = gone[0]
        conn.execute("DELETE FROM memory_embeddings WHERE rowid = ?", (rowid,))
        if schema.has_graph:
            conn.execute(
                "DELETE FROM memory_graph WHERE source_hash = ? OR target_hash = ?",
                (content_hash, content_hash),
            )
        batch.active_delta -= 1
        batch.deleted_delta += 1
        before = _facets(tags, memory_type, created_at, store_name)
        batch.record(
            Change(
                kind="deleted",
                content_hash=content_hash,
                row=rowid,
                before=before,
                store=before.store,
            )
        )
        deleted.append(content_hash)
    return deleted


def _facets(tags: object, memory_type: object, created_at: object, store_name: object) -> Facets:
    return Facets(
        tuple(tags_from_db(optional_text(tags))),
        text(memory_type).strip().lower() or DEFAULT_TYPE,
        epoch(created_at) or 0.0,
        text(store_name, DEFAULT_STORE),
    )


def update(
    batch: WriteBatch,
    content_hash: str,
    *,
    tags: list[str] | None,
    memory_type: str | None,
    metadata: dict[str, Any] | None,
    preserve_timestamps: bool,
    store: str | None = None,
) -> tuple[m.MemoryRecord, list[str]]:
    """Replace tags, set the type, merge metadata (:func:`~memhub.storage.updates.plan_update`);
    return the new record and the changed fields.

    Raises:
        NotFound: no active memory has this hash.
        BadRequest: the metadata should be merged into stored metadata that cannot be read.
    """
    conn, schema = batch.conn, batch.schema
    rows = conn.execute(
        f"SELECT m.id, {store_column(schema)}, {record_columns(schema)} FROM memories m "
        f"WHERE m.content_hash = ? AND {sql_filters.visible(schema, None)}",
        (content_hash,),
    ).fetchall()
    if not rows:
        raise NotFound(f"Memory with hash {content_hash} not found")
    rowid, store_name, *columns = rows[0]
    if store is not None and text(store_name, DEFAULT_STORE) != store:
        raise NotFound(f"memory not found in the requested store {store!r}")
    old = row_to_record(columns)
    plan = plan_update(
        old,
        tags=tags,
        memory_type=memory_type,
        metadata=metadata,
        preserve_timestamps=preserve_timestamps,
        now=batch.now,
        metadata_problem=decode_metadata(columns[4])[1],
    )
    if plan.columns:
        assignments = ", ".join(f"{name} = ?" for name in plan.columns)
        conn.execute(
            f"UPDATE memories SET {assignments} WHERE id = ?", [*plan.columns.values(), rowid]
        )
    batch.record(plan.change(as_int(rowid), old, text(store_name, DEFAULT_STORE)))
    return plan.record, plan.fields


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
