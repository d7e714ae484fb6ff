"""The PostgreSQL engine's write side: operations inside the writer's locked transaction.

Every function runs between the writer's ``BEGIN``, ``pg_advisory_xact_lock`` and ``COMMIT``,
inside a SAVEPOINT of its own, in READ COMMITTED: each statement sees every commit made before
the lock was taken, by any daemon, so the duplicate checks see the store as it is now (an
advisory lock taken under REPEATABLE READ would freeze the snapshot before the wait and let
duplicates through). Each change is appended to ``changes`` with the next ``seq``; the lock
makes ``seq`` order commit order across machines.

The semantics are the SQLite engine's: exact dedup on the store-wide unique hash (a tombstone is
revived), semantic dedup against the recent rows of the same store, soft delete that drops the
vector, updates that merge metadata.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any, Final

import attrs
import numpy as np
import psycopg

from memhub.domain.tags import read_back, tags_from_db, tags_to_db
from memhub.domain.timestamps import iso_utc
from memhub.errors import BadRequest, Duplicate, NotFound
from memhub.protocol import messages as m
from memhub.protocol.codec import converter
from memhub.storage.mirror import VectorIndex, unit_rows, usable
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
from memhub.storage.postgres import queries

Cursor = psycopg.Cursor[Any]


@attrs.define
class PgBatch:
    """State of one write transaction, shared by the write calls it runs."""

    cur: Cursor
    index: VectorIndex | None
    dedup: DedupPolicy
    origin: str
    client: str = ""
    now: float = attrs.field(factory=time.time)
    changes: list[Change] = attrs.field(factory=list)
    inserted: list[tuple[int, FloatArray, float, str, str]] = attrs.field(factory=list)
    #: Rows past the mirror's position, read once per batch (nobody else commits while the
    #: batch holds the lock): (id, unit vector, created_at, store).
    _tail: list[tuple[int, FloatArray, float, str]] | None = None
    deleted_rows: set[int] = attrs.field(factory=set)

    def mark(self) -> tuple[int, int]:
        return len(self.changes), len(self.inserted)

    def rollback_to(self, mark: tuple[int, int]) -> None:
        del self.changes[mark[0] :]
        del self.inserted[mark[1] :]

    def write(self, sql: str, params: Sequence[Any]) -> None:
        self.cur.execute(sql, params)

    def record(self, change: Change) -> None:
        change = attrs.evolve(change, client=self.client, origin=self.origin)
        append_changes(self.cur, [change], self.now)
        self.changes.append(change)

    def tail(self, position: int) -> list[tuple[int, FloatArray, float, str]]:
        """The live rows committed past the mirror's ``position``, as of the lock."""
        if self._tail is None:
            ids = queries.tail_ids(self.cur, position)
            self._tail = []
            if ids:
                self.cur.execute(
                    "SELECT id, embedding, COALESCE(created_at, 0), store FROM memories "
                    "WHERE id = ANY(%s) AND deleted_at IS NULL AND embedding IS NOT NULL",
                    (ids,),
                )
                self._tail = [
                    (int(i), unit_rows(v), float(c), str(st)) for i, v, c, st in self.cur.fetchall()
                ]
        return [row for row in self._tail if row[0] not in self.deleted_rows]


APPEND_CHANGE = (
    "INSERT INTO changes (seq, at, kind, memory_id, content_hash, store, client, origin, before, "
    "memory) VALUES (nextval('change_seq'), %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def append_changes(cur: Cursor, changes: Sequence[Change], at: float) -> None:
    """Append ``changes`` to the feed, in this order (the caller holds the store's lock, which
    makes ``seq`` order commit order)."""
    rows = [
        (
            at,
            change.kind,
            change.row,
            change.content_hash,
            change.store,
            change.client,
            change.origin,
            _json(facets_to_json(change.before)),
            _json(converter().unstructure(change.memory) if change.memory else None),
        )
        for change in changes
    ]
    if len(rows) == 1:
        cur.execute(APPEND_CHANGE, rows[0])  # a write's one change: no pipeline to set up
    else:
        cur.executemany(APPEND_CHANGE, rows)


def _json(value: object) -> str | None:
    return None if value is None else json.dumps(value)


def facets_to_json(facets: Facets | None) -> dict[str, Any] | None:
    if facets is None:
        return None
    return {
        "tags": list(facets.tags),
        "memory_type": facets.memory_type,
        "created_at": facets.created_at,
        "store": facets.store,
    }


def facets_from_json(data: dict[str, Any] | None) -> Facets | None:
    if data is None:
        return None
    return Facets(
        tuple(data["tags"]), data["memory_type"], float(data["created_at"]), data["store"]
    )


# -- store ---------------------------------------------------------------------------------


def store(batch: PgBatch, item: NewMemory) -> m.MemoryRecord:
    """Insert (or revive) the memory and its change in one statement, then check it for a
    semantic duplicate: the exact check is the unique hash itself (the insert does nothing
    when an active memory has it), and the semantic one, needed far less often, undoes the
    insert by failing the write after it (the writer then reruns the batch with savepoints)."""
    cur = batch.cur
    now, iso = batch.now, iso_utc(batch.now)
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
        store=item.store,
    )
    cur.execute(
        STORE,
        (
            item.content_hash,
            item.content,
            tags_to_db(item.tags),
            item.memory_type,
            json.dumps(item.metadata),
            now,
            now,
            iso,
            iso,
            item.store,
            np.asarray(item.vector, dtype=np.float32),
            now,
            item.content_hash,
            item.store,
            batch.client,
            batch.origin,
            json.dumps(converter().unstructure(record)),
        ),
    )
    inserted = cur.fetchone()
    if inserted is None:
        cur.execute(
            "SELECT store FROM memories WHERE content_hash = %s AND deleted_at IS NULL",
            (item.content_hash,),
        )
        found = cur.fetchone()
        message = "Duplicate content detected (exact match)"
        if found is not None and found[0] not in (None, DEFAULT_STORE):
            message += f"; already exists in store '{found[0]}'"
        raise Duplicate(message, detail={"content_hash": item.content_hash, "kind": "exact"})
    rowid = int(inserted[0])
    if batch.dedup.enabled and not item.skip_semantic_dedup:
        _check_semantic_duplicate(batch, item.vector, item.store, rowid)
    batch.inserted.append((rowid, item.vector, now, item.content_hash, item.store))
    batch.changes.append(
        Change(
            kind="stored",
            content_hash=item.content_hash,
            row=rowid,
            memory=record,
            vector=item.vector,
            client=batch.client,
            origin=batch.origin,
            store=item.store,
        )
    )
    return record


#: Insert (or revive a tombstone) and append its ``stored`` change; no row back when an active
#: memory has the hash.
STORE: Final = (
    "WITH ins AS (INSERT INTO memories (content_hash, content, tags, memory_type, metadata, "
    "created_at, updated_at, created_at_iso, updated_at_iso, deleted_at, store, embedding) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, %s, %s) "
    "ON CONFLICT (content_hash) DO UPDATE SET content = EXCLUDED.content, "
    "tags = EXCLUDED.tags, memory_type = EXCLUDED.memory_type, metadata = EXCLUDED.metadata, "
    "created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, "
    "created_at_iso = EXCLUDED.created_at_iso, updated_at_iso = EXCLUDED.updated_at_iso, "
    "deleted_at = NULL, store = EXCLUDED.store, embedding = EXCLUDED.embedding, "
    "parent_id = NULL, version = 1, confidence = 1.0, last_accessed = NULL, "
    "superseded_by = NULL, embedding_pending = 0 "
    "WHERE memories.deleted_at IS NOT NULL RETURNING id) "
    "INSERT INTO changes (seq, at, kind, memory_id, content_hash, store, client, origin, before, "
    "memory) SELECT nextval('change_seq'), %s, 'stored', ins.id, %s, %s, %s, %s, NULL, %s "
    "FROM ins RETURNING memory_id"
)


def _check_semantic_duplicate(batch: PgBatch, vector: FloatArray, store: str, own: int) -> None:
    """Reject a vector within the threshold of a memory of the window, in this store: rows of
    this batch, the mirror's rows, and rows committed by any daemon past the mirror's
    position (read in this transaction, after the lock); ``own`` is the row just written."""
    policy, cur = batch.dedup, batch.cur
    since = batch.now - policy.window_hours * 3600.0
    for _, other, created_at, content_hash, other_store in batch.inserted:
        if (
            other_store == store
            and created_at >= since
            and float(other @ vector) >= policy.threshold
        ):
            _raise_semantic(content_hash)
    recent = "m.created_at >= %s AND m.deleted_at IS NULL AND m.store = %s"
    index = usable(batch.index)
    if index is None:  # the mirror is still loading: the server's exact scan decides
        cur.execute(
            "SELECT m.content_hash, m.embedding <=> %s FROM memories m "
            f"WHERE {recent} AND m.embedding IS NOT NULL AND m.id <> %s ORDER BY 2 LIMIT 1",
            (np.asarray(vector, dtype=np.float32), since, store, own),
        )
        row = cur.fetchone()
        if row is not None and 1.0 - float(row[1]) >= policy.threshold:
            _raise_semantic(str(row[0]))
        return
    tail = [entry for entry in batch.tail(index.position) if entry[0] != own]
    candidates = [(row, vec) for row, vec, created, st in tail if st == store and created >= since]
    if candidates:
        sims = np.stack([vec for _, vec in candidates]) @ vector
        best = int(np.argmax(sims))
        if float(sims[best]) >= policy.threshold:
            cur.execute("SELECT content_hash FROM memories WHERE id = %s", (candidates[best][0],))
            hit = cur.fetchone()
            _raise_semantic(str(hit[0]) if hit else "")
    rejected: list[int] = [row for row, _, _, _ in tail]
    while True:
        nearest = index.nearest(vector, 4, created_since=since, exclude=rejected)
        for rowid, distance in nearest:
            if 1.0 - distance < policy.threshold:
                return
            cur.execute(
                f"SELECT m.content_hash FROM memories m WHERE m.id = %s AND {recent}",
                (rowid, since, store),
            )
            hit = cur.fetchone()
            if hit is not None:
                _raise_semantic(str(hit[0]))
            rejected.append(rowid)
        if len(nearest) < 4:
            return


def _raise_semantic(content_hash: str) -> None:
    raise Duplicate(
        f"Duplicate content detected (semantically similar to {content_hash})",
        detail={"content_hash": content_hash, "kind": "semantic"},
    )


def store_session(batch: PgBatch, chunks: Sequence[NewMemory]) -> list[str]:
    return [store(batch, chunk).content_hash for chunk in chunks]


# -- delete, update ------------------------------------------------------------------------


def delete_matching(batch: PgBatch, filters: Filters, content_hash: str | None) -> list[str]:
    cur = batch.cur
    targets = queries.select_targets(cur, filters, content_hash)
    if not targets:
        return []
    batch.write(
        "UPDATE memories SET deleted_at = %s, embedding = NULL "
        "WHERE id = ANY(%s) AND deleted_at IS NULL "
        "RETURNING id, content_hash, tags, memory_type, created_at, store",
        (batch.now, [row for row, _ in targets]),
    )
    gone = {int(r[0]): r for r in cur.fetchall()}
    deleted: list[str] = []
    for row, _ in targets:  # in the order they were selected (by id)
        if row not in gone:
            continue
        _, content_hash_, tags, memory_type, created_at, store_name = gone[row]
        batch.deleted_rows.add(row)
        before = Facets(
            tuple(tags_from_db(tags)),
            (memory_type or "").strip().lower() or DEFAULT_TYPE,
            float(created_at or 0.0),
            store_name,
        )
        batch.record(
            Change(
                kind="deleted", content_hash=content_hash_, row=row, before=before, store=store_name
            )
        )
        deleted.append(content_hash_)
    from memhub.storage.postgres.graph import drop_edges_of  # graph.py imports this module

    drop_edges_of(cur, deleted)
    return deleted


def update(
    batch: PgBatch,
    content_hash: str,
    *,
    tags: list[str] | None,
    memory_type: str | None,
    metadata: dict[str, Any] | None,
    preserve_timestamps: bool,
    store: str | None = None,
) -> tuple[m.MemoryRecord, list[str]]:
    cur = batch.cur
    cur.execute(
        f"SELECT m.id, m.store, {queries.COLUMNS} FROM memories m "
        "WHERE m.content_hash = %s AND m.deleted_at IS NULL",
        (content_hash,),
    )
    row = cur.fetchone()
    if row is None:
        raise NotFound(f"Memory with hash {content_hash} not found")
    rowid, store_name, *columns = row
    if store is not None and store_name != store:
        raise NotFound(f"memory not found in the requested store {store!r}")
    old = queries.row_to_record(columns, for_reply=False)
    fields: list[str] = []
    assignments: list[str] = []
    values: list[Any] = []
    if tags is not None:
        fields.append("tags")
        assignments.append("tags = %s")
        values.append(tags_to_db(tags))
    new_type = old.memory_type
    if memory_type is not None:
        new_type = memory_type
        fields.append("memory_type")
        assignments.append("memory_type = %s")
        values.append(memory_type)
    new_meta = dict(old.metadata)
    if metadata:
        _, problem = queries.decode_metadata(columns[4])
        if problem is not None:
            raise BadRequest(
                f"cannot merge metadata into memory {content_hash}: its stored metadata "
                f"cannot be read ({problem}); update its tags or type only"
            )
        new_meta.update(metadata)
        fields.append("metadata")
        assignments.append("metadata = %s")
        values.append(json.dumps(new_meta))
    updated_at = old.updated_at
    if "tags" in fields or "memory_type" in fields or not preserve_timestamps:
        updated_at = batch.now
        fields.append("updated_at")
        assignments.extend(["updated_at = %s", "updated_at_iso = %s"])
        values.extend([updated_at, iso_utc(updated_at)])
    if assignments:
        batch.write(f"UPDATE memories SET {', '.join(assignments)} WHERE id = %s", [*values, rowid])
    record = attrs.evolve(
        old,
        tags=read_back(tags) if tags is not None else old.tags,
        memory_type=new_type,
        metadata=new_meta,
        updated_at=updated_at,
        updated_at_iso=iso_utc(updated_at) if "updated_at" in fields else old.updated_at_iso,
    )
    batch.record(
        Change(
            kind="updated",
            content_hash=content_hash,
            row=int(rowid),
            memory=record,
            before=Facets.of(old, store_name),
            store=store_name,
        )
    )
    return record, fields
