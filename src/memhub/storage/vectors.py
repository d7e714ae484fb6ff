"""An exact in-RAM mirror of the stored embeddings, searched with one matrix product.

sqlite-vec's KNN is a brute-force scan costing ~0.4 µs per stored vector (38 ms at 100k on this
machine's class of hardware); the same exact search as a BLAS matmul over a float32 matrix costs
~3 ms. The daemon is the only owner of the file, so it can keep that matrix.

Consistency rule: the mirror is a *cache of vectors*, never the authority on which memories
exist. Every search joins its candidates back to ``memories`` in the caller's own snapshot, so a
row deleted or hidden in that snapshot is never returned even if the mirror still holds it.
New rows are found by id: ``memories.id`` is AUTOINCREMENT, so every commit adds ids above the
ones any earlier snapshot saw, and :meth:`VectorIndex.catch_up` loads the ids above its
watermark from the caller's snapshot. That covers rows written by our writer and by any other
process (a legacy mcp-memory-service, a sync tool) alike.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from memhub.storage.sqlvalues import as_bytes, as_float, as_int

if TYPE_CHECKING:
    import apsw

    from memhub.storage.schema import Schema

FloatArray = npt.NDArray[np.float32]
_INITIAL_CAPACITY: Final = 1024


def blob_to_vector(blob: bytes, dimension: int) -> FloatArray:
    """Decode sqlite-vec's raw little-endian float32 blob."""
    vec = np.frombuffer(blob, dtype="<f4")
    if vec.shape[0] != dimension:
        raise ValueError(f"stored vector has {vec.shape[0]} dimensions, expected {dimension}")
    return vec.astype(np.float32)


def vector_to_blob(vec: FloatArray) -> bytes:
    return np.ascontiguousarray(vec, dtype="<f4").tobytes()


def normalized(vec: FloatArray) -> FloatArray:
    norm = float(np.linalg.norm(vec))
    return (vec / norm).astype(np.float32) if norm > 0 else vec


class VectorIndex:
    """Unit vectors of active memories by rowid, plus their creation times.

    Thread-safe: readers search from worker threads while the writer adds and removes rows.
    """

    def __init__(self, dimension: int, metric: str = "cosine") -> None:
        self.dimension = dimension
        self.metric = metric
        self._lock = threading.Lock()
        self._ids = np.zeros(_INITIAL_CAPACITY, dtype=np.int64)
        self._vecs = np.zeros((_INITIAL_CAPACITY, dimension), dtype=np.float32)
        self._created = np.zeros(_INITIAL_CAPACITY, dtype=np.float64)
        self._count = 0
        self._slot: dict[int, int] = {}
        self._watermark = 0  # every memories.id <= this has been considered

    def __len__(self) -> int:
        return self._count

    @property
    def watermark(self) -> int:
        return self._watermark

    # -- maintenance ---------------------------------------------------------------------------

    def add(self, rowid: int, vec: FloatArray, created_at: float) -> None:
        with self._lock:
            self._add_locked(rowid, normalized(vec), created_at)

    def _add_locked(self, rowid: int, unit: FloatArray, created_at: float) -> None:
        if rowid in self._slot:
            return
        if self._count == self._ids.shape[0]:
            grow = max(_INITIAL_CAPACITY, self._count)
            self._ids = np.concatenate([self._ids, np.zeros(grow, dtype=np.int64)])
            self._vecs = np.concatenate(
                [self._vecs, np.zeros((grow, self.dimension), dtype=np.float32)]
            )
            self._created = np.concatenate([self._created, np.zeros(grow, dtype=np.float64)])
        slot = self._count
        self._ids[slot] = rowid
        self._vecs[slot] = unit
        self._created[slot] = created_at
        self._slot[rowid] = slot
        self._count += 1

    def remove(self, rowids: Iterable[int]) -> None:
        with self._lock:
            for rowid in rowids:
                slot = self._slot.pop(rowid, None)
                if slot is None:
                    continue
                last = self._count - 1
                if slot != last:  # move the last row into the hole: O(1) delete
                    moved = int(self._ids[last])
                    self._ids[slot] = moved
                    self._vecs[slot] = self._vecs[last]
                    self._created[slot] = self._created[last]
                    self._slot[moved] = slot
                self._count = last

    def catch_up(self, conn: apsw.Connection, schema: Schema) -> int:
        """Load the rows above the watermark that the caller's snapshot can see.

        Call it inside the caller's read (or write) transaction so that what it loads and what
        the caller then joins against are the same snapshot. Returns how many rows it added.
        """
        with self._lock:
            start = self._watermark
        rows = conn.execute(
            "SELECT id, created_at FROM memories WHERE id > ? AND deleted_at IS NULL ORDER BY id",
            (start,),
        ).fetchall()
        newest = conn.execute("SELECT MAX(id) FROM memories").fetchall()[0][0] or 0
        loaded: list[tuple[int, FloatArray, float]] = []
        for rowid, created_at in rows:
            found = conn.execute(
                "SELECT content_embedding FROM memory_embeddings WHERE rowid = ?", (rowid,)
            ).fetchall()
            if found:
                vec = blob_to_vector(as_bytes(found[0][0]), self.dimension)
                loaded.append((as_int(rowid), normalized(vec), as_float(created_at)))
        with self._lock:
            for rowid, unit, created_at in loaded:
                self._add_locked(rowid, unit, created_at)
            self._watermark = max(self._watermark, as_int(newest))
        return len(loaded)

    def load_all(self, conn: apsw.Connection, schema: Schema) -> int:
        """Fill an empty index with one scan of each table (fast start on a large file)."""
        created: dict[int, float] = {
            as_int(rowid): as_float(at)
            for rowid, at in conn.execute(
                "SELECT id, created_at FROM memories WHERE deleted_at IS NULL"
            )
        }
        newest = conn.execute("SELECT MAX(id) FROM memories").fetchall()[0][0] or 0
        count = 0
        with self._lock:
            for rowid, blob in conn.execute(
                "SELECT rowid, content_embedding FROM memory_embeddings"
            ):
                key = as_int(rowid)
                if key in created:
                    unit = normalized(blob_to_vector(as_bytes(blob), self.dimension))
                    self._add_locked(key, unit, created[key])
                    count += 1
            self._watermark = max(self._watermark, as_int(newest))
        return count

    # -- search --------------------------------------------------------------------------------

    def distances(self, unit_query: FloatArray, similarity: npt.NDArray[np.float32]) -> FloatArray:
        """sqlite-vec's distance for this metric, from cosine similarities of unit vectors."""
        if self.metric == "cosine":
            return (1.0 - similarity).astype(np.float32)
        result: FloatArray = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * similarity)).astype(np.float32)
        return result

    def nearest(
        self,
        query: FloatArray,
        k: int,
        *,
        allowed: npt.NDArray[np.int64] | None = None,
        exclude: Sequence[int] = (),
        created_since: float | None = None,
    ) -> list[tuple[int, float]]:
        """The ``k`` nearest rowids as ``(rowid, distance)``, nearest first.

        Args:
            allowed: if given, only these rowids are candidates (filters applied before the cut).
            exclude: rowids to skip (candidates already rejected by the caller).
            created_since: only rows created at or after this epoch.
        """
        unit = normalized(query.astype(np.float32))
        with self._lock:
            n = self._count
            ids = self._ids[:n]
            mask: npt.NDArray[np.bool_] | None = None
            if allowed is not None:
                mask = np.isin(ids, allowed)
            if created_since is not None:
                recent = self._created[:n] >= created_since
                mask = recent if mask is None else mask & recent
            if exclude:
                keep = ~np.isin(ids, np.asarray(exclude, dtype=np.int64))
                mask = keep if mask is None else mask & keep
            if mask is None:
                cand_ids = ids.copy()
                sims = self._vecs[:n] @ unit
            else:
                idx = np.flatnonzero(mask)
                cand_ids = ids[idx]
                sims = self._vecs[idx] @ unit
        if cand_ids.shape[0] == 0 or k <= 0:
            return []
        if k < cand_ids.shape[0]:
            top = np.argpartition(-sims, k - 1)[:k]
        else:
            top = np.arange(cand_ids.shape[0])
        order = top[np.argsort(-sims[top], kind="stable")]
        dists = self.distances(unit, sims[order])
        return [(int(cand_ids[i]), float(d)) for i, d in zip(order, dists, strict=True)]
