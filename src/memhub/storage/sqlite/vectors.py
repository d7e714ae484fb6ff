"""Embeddings in a SQLite file: sqlite-vec's blobs in and out, and filling the vector mirror.

sqlite-vec keeps each vector as a raw little-endian float32 blob in the ``memory_embeddings``
vec0 table, keyed by the ``memories`` row id. Vectors written by other programs are not trusted
to be unit length or even well formed: a blob of the wrong size is skipped (and logged), never a
reason for a search or a start-up to fail.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from memhub.domain.tags import tags_from_db
from memhub.storage.mirror import unit_rows
from memhub.storage.model import DEFAULT_STORE
from memhub.storage.sqlite.values import as_int, optional_text, text

if TYPE_CHECKING:
    import apsw

    from memhub.storage.mirror import VectorIndex
    from memhub.storage.model import FloatArray

log = logging.getLogger(__name__)
_CHUNK_ROWS: Final = 4096


def blob_to_vector(blob: object, dimension: int) -> FloatArray | None:
    """Decode sqlite-vec's raw little-endian float32 blob; None if it is not one of this size."""
    if not isinstance(blob, bytes) or len(blob) != 4 * dimension:
        return None
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def vector_to_blob(vec: FloatArray) -> bytes:
    return np.ascontiguousarray(vec, dtype="<f4").tobytes()


def vectors_of(conn: apsw.Connection, rows: Sequence[int], dimension: int) -> dict[int, FloatArray]:
    """The unit vectors stored for ``rows`` (rows without a usable vector are left out)."""
    found: dict[int, FloatArray] = {}
    for row in rows:
        hit = conn.execute(
            "SELECT content_embedding FROM memory_embeddings WHERE rowid = ?", (row,)
        ).fetchall()
        vec = blob_to_vector(hit[0][0], dimension) if hit else None
        if vec is not None:
            found[row] = unit_rows(vec)
        elif hit:
            log.warning("row %d: its stored embedding is not %d floats; skipped", row, dimension)
    return found


def tail_vectors(
    conn: apsw.Connection,
    position: int,
    dimension: int,
    where: str,
    params: list[Any],
    changed: Sequence[int] = (),
) -> tuple[list[int], FloatArray]:
    """Rows past ``position``, and rows ``changed`` in place, that pass ``where`` (over alias
    ``m``), with their unit vectors as this snapshot holds them."""
    candidates = [
        as_int(r[0])
        for r in conn.execute(
            f"SELECT m.id FROM memories m WHERE m.id > ? AND {where} ORDER BY m.id",
            [position, *params],
        )
    ]
    earlier = sorted({row for row in changed if row <= position})
    if earlier:
        candidates[:0] = [
            as_int(r[0])
            for r in conn.execute(
                "SELECT m.id FROM memories m WHERE m.id IN (SELECT value FROM json_each(?)) "
                f"AND {where} ORDER BY m.id",
                [json.dumps(earlier), *params],
            )
        ]
    if not candidates:
        return [], np.zeros((0, dimension), dtype=np.float32)
    found = vectors_of(conn, candidates, dimension)
    rows = [r for r in candidates if r in found]
    if not rows:
        return [], np.zeros((0, dimension), dtype=np.float32)
    return rows, np.stack([found[r] for r in rows])


def load_all(conn: apsw.Connection, index: VectorIndex, up_to: int) -> int:
    """Fill an empty mirror with the vectors of active rows with ids up to ``up_to``, in one
    scan of each table (fast start on a large file); returns how many it loaded."""
    created: dict[int, float] = {}
    for rowid, at in conn.execute(
        "SELECT id, created_at FROM memories WHERE +deleted_at IS NULL AND id <= ?", (up_to,)
    ):
        created[as_int(rowid)] = float(at) if isinstance(at, int | float) else 0.0
    chunk = np.empty((_CHUNK_ROWS, index.dimension), dtype=np.float32)
    rowids: list[int] = []
    times: list[float] = []
    loaded = skipped = 0

    def flush() -> None:
        # Rows go in by chunks, into arrays sized once: no full-size temporary matrix, and no
        # 100k separate row arrays (which would leave ~160 MB of freed heap behind as RSS).
        index.add_many(rowids, chunk[: len(rowids)], times)
        rowids.clear()
        times.clear()

    index.reserve(len(created))
    for rowid, blob in conn.execute("SELECT rowid, content_embedding FROM memory_embeddings"):
        key = as_int(rowid)
        if key not in created:
            continue
        vec = blob_to_vector(blob, index.dimension)
        if vec is None:
            skipped += 1
            continue
        chunk[len(rowids)] = vec
        rowids.append(key)
        times.append(created[key])
        loaded += 1
        if len(rowids) == _CHUNK_ROWS:
            flush()
    flush()
    if skipped:
        log.warning(
            "%d stored embeddings are not %d floats; those memories are not searchable by meaning",
            skipped,
            index.dimension,
        )
    return loaded


def facet_rows(conn: apsw.Connection, store_sql: str) -> Iterator[tuple[int, list[str], str]]:
    """``(row, tags, store)`` of every active row, for the mirror's facet index (inside the
    caller's read transaction; ``store_sql`` is the store column's SQL over alias ``m``)."""
    for rowid, tags, store in conn.execute(
        f"SELECT m.id, m.tags, {store_sql} FROM memories m WHERE +m.deleted_at IS NULL"
    ):
        yield as_int(rowid), tags_from_db(optional_text(tags)), text(store, DEFAULT_STORE)
