"""An exact in-RAM mirror of the stored embeddings, searched with one matrix product.

sqlite-vec's KNN is a brute-force scan costing ~0.4 µs per stored vector (38 ms at 100k on this
machine's class of hardware), and pgvector's exact scan is slower still over a network; the same
exact search as a BLAS matmul over a float32 matrix costs ~3 ms. So every daemon keeps one.

Above a few thousand rows the matrix product itself is the cost (~10-15 ms at 100k: it streams
150 MB). The index therefore also keeps int8 codes of every row (a quarter of the size) and
searches in two passes: the codes select a candidate set that provably contains the exact top-k
(see :mod:`memhub.storage.int8codes`), then the float32 rows of the candidates are ranked exactly.
The results are the same rows, distances and order as the one-pass search; the codes cost
~400 bytes per row next to the 1,536 of the float32 row (+26% memory).

Consistency rule: the mirror is a *cache of vectors*, never the authority on which memories
exist. Every search joins its candidates back to the store in the caller's own snapshot, so a
row deleted or hidden in that snapshot is never returned even if the mirror still holds it, and
the snapshot itself scores the rows committed after :attr:`VectorIndex.position` (those the
mirror may not hold yet) and the rows changed in place since (an update's new tags or content,
which the mirror and its facets may not reflect yet). The mirror is filled once by its engine
(:meth:`~memhub.storage.engine.Storage.load_mirror`) and from then on advanced only by the
change follower, in the feed's commit order (:meth:`VectorIndex.apply`).

Engine-neutral: keys are the engine's integer row ids, and nothing here knows SQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Container, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from memhub.storage import int8codes
from memhub.storage.facets import FacetIndex
from memhub.storage.rowfile import RowFile

if TYPE_CHECKING:
    from memhub.storage.engine import Cursor
    from memhub.storage.model import Change

FloatArray = npt.NDArray[np.float32]
_INITIAL_CAPACITY: Final = 1024
_CHUNK_ROWS: Final = 4096
#: Below this many competing rows one exact float32 pass is as fast as two passes.
TWO_PASS_MIN_ROWS: Final = 4096


#: From this many memories at start, ``mirror_rows="auto"`` keeps the float32 rows on disk:
#: ~2 KB of RAM a row in RAM (400 MB at 200k), against ~0.5 ms more per search on disk.
MIRROR_ROWS_ON_DISK_FROM: Final = 200_000


def rows_on_disk(policy: str, rows: int) -> bool:
    """Whether a mirror of ``rows`` rows keeps its float32 rows on disk under ``policy``."""
    return policy == "disk" or (policy == "auto" and rows >= MIRROR_ROWS_ON_DISK_FROM)


def usable(index: VectorIndex | None) -> VectorIndex | None:
    """``index`` if searches may use it now, else None (no mirror, or still loading)."""
    return index if index is not None and index.loaded else None


def unit_rows(vecs: FloatArray) -> FloatArray:
    """``vecs`` scaled to unit length row by row (zero rows stay zero), as a new array.

    Only vectors that come from outside memhub need this: every ``Embedder`` returns unit rows.
    """
    out = np.array(vecs, dtype=np.float32, copy=True)
    norms = np.linalg.norm(out, axis=-1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


_MASK: Final = (1 << 64) - 1


def _mix(row: int) -> int:
    """splitmix64 of a row id: spreads ids so that their XOR says which set it is."""
    z = (row + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def rows_digest(rows: Iterable[int]) -> str:
    """The digest :attr:`VectorIndex.digest` has when the mirror holds exactly ``rows``."""
    value = 0
    for row in rows:
        value ^= _mix(int(row))
    return f"{value:016x}"


class VectorIndex:
    """Unit vectors of active memories by rowid, plus their creation times.

    Thread-safe: readers search from worker threads while the writer adds and removes rows.

    Args:
        two_pass: keep int8 codes and search large sets in two passes (same results, faster);
            ``False`` keeps only the float32 rows and always scans them all (the reference).
        rows_on_disk: keep the float32 rows in a scratch file in this directory instead of RAM
            (:mod:`memhub.storage.rowfile`); every search then takes two passes.
    """

    def __init__(
        self,
        dimension: int,
        metric: str = "cosine",
        *,
        two_pass: bool = True,
        rows_on_disk: Path | None = None,
    ) -> None:
        self.dimension = dimension
        self.metric = metric
        self._file = RowFile(rows_on_disk, dimension) if rows_on_disk is not None else None
        self.two_pass = two_pass or self._file is not None
        self._lock = threading.Lock()
        self._count = 0
        self._ids = np.zeros(0, dtype=np.int64)
        self._vecs = np.zeros((0, dimension), dtype=np.float32)
        self._created = np.zeros(0, dtype=np.float64)
        self._codes = np.zeros((0, dimension if two_pass else 0), dtype=np.int8)
        self._steps = np.zeros(0, dtype=np.float32)
        self._row_slack = np.zeros(0, dtype=np.float32)
        self._grow_to(_INITIAL_CAPACITY)
        self._slot: dict[int, int] = {}
        self._digest = 0
        #: Tags and stores of the rows held, for filters answered beside the vectors.
        self.facets = FacetIndex()
        #: The engine's mirror position (see ``Cursor.mirror_position``) that the rows held
        #: reflect: a snapshot searches the rows past it itself. Set by :meth:`apply`.
        self.position = 0
        #: The feed cursor that :attr:`position` came from (None before the load and after
        #: :meth:`clear`): an engine whose position counts rows, not changes, finds the rows
        #: changed in place since (a tag added by an update) from it.
        self.followed: Cursor | None = None
        #: False until the engine's load is complete (and again after :meth:`clear`): until
        #: then searches use the engine's own exact scan (:func:`usable`), so a daemon answers
        #: while a large store's vectors are still being read.
        self.loaded = False

    def __len__(self) -> int:
        return self._count

    @property
    def digest(self) -> str:
        """An order-independent digest of the row ids held (see :func:`rows_digest`)."""
        with self._lock:
            return f"{self._digest:016x}"

    @property
    def rows_on_disk(self) -> bool:
        return self._file is not None

    def close(self) -> None:
        """Release the row file, if any (the index is not used afterwards)."""
        if self._file is not None:
            self._file.close()

    def nbytes(self) -> int:
        """Bytes of RAM held by the arrays (allocated capacity, not just the used rows)."""
        arrays = (self._ids, self._vecs, self._created, self._codes, self._steps, self._row_slack)
        return sum(a.nbytes for a in arrays)

    # -- maintenance ---------------------------------------------------------------------------

    def add(self, rowid: int, vec: FloatArray, created_at: float) -> None:
        with self._lock:
            self._extend_locked([rowid], vec.reshape(1, -1), [created_at])

    def add_many(self, rowids: Sequence[int], vecs: FloatArray, created: Sequence[float]) -> None:
        """Add many rows at once (normalised here; ids already present are skipped)."""
        with self._lock:
            self._extend_locked(rowids, vecs, created)

    def clear(self) -> None:
        """Forget every row (before a reload from the store)."""
        with self._lock:
            self.loaded = False
            self._count = 0
            self._slot.clear()
            self._digest = 0
            self.position = 0
            self.followed = None
        self.facets.invalidate()

    def mark_loaded(self, position: int, followed: Cursor | None = None) -> None:
        """The engine's load is complete: the rows held are the store's at ``position``
        (the mirror position of the feed cursor ``followed``)."""
        with self._lock:
            self.position = position
            self.followed = followed
            self.loaded = True

    def reserve(self, rows: int) -> None:
        """Make room for ``rows`` more rows at once (one allocation before a bulk load)."""
        with self._lock:
            if self._ids.shape[0] < self._count + rows:
                self._grow_to(self._count + rows)

    def _grow_to(self, capacity: int) -> None:
        def grown(array: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
            bigger = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
            bigger[: self._count] = array[: self._count]
            return bigger

        self._ids = grown(self._ids).astype(np.int64, copy=False)
        if self._file is not None:
            self._file.grow(capacity)
        else:
            self._vecs = grown(self._vecs).astype(np.float32, copy=False)
        self._created = grown(self._created).astype(np.float64, copy=False)
        self._codes = grown(self._codes).astype(np.int8, copy=False)
        self._steps = grown(self._steps).astype(np.float32, copy=False)
        self._row_slack = grown(self._row_slack).astype(np.float32, copy=False)

    def _extend_locked(
        self, rowids: Sequence[int], vecs: FloatArray, created: Sequence[float]
    ) -> None:
        """Append the rows whose ids are not present yet, scaled to unit length.

        Works in chunks straight into the index's arrays, so loading 100k rows needs no
        full-size temporaries (a float64 copy of 100k x 384 alone would be 300 MB).
        """
        fresh: list[int] = []
        seen: set[int] = set()
        for i, rowid in enumerate(rowids):
            if rowid not in self._slot and rowid not in seen:
                seen.add(rowid)
                fresh.append(i)
        if not fresh:
            return
        if len(fresh) < len(rowids):
            picked = np.asarray(fresh, dtype=np.intp)
            vecs = vecs[picked]
            rowids = [rowids[i] for i in fresh]
            created = [created[i] for i in fresh]
        needed = self._count + len(fresh)
        if needed > self._ids.shape[0]:
            self._grow_to(max(needed, 2 * self._ids.shape[0]))
        start, end = self._count, needed
        self._ids[start:end] = rowids
        self._created[start:end] = created
        for lo in range(0, end - start, _CHUNK_ROWS):
            hi = min(lo + _CHUNK_ROWS, end - start)
            if self._file is None:
                block = self._vecs[start + lo : start + hi]
                block[:] = vecs[lo:hi]
            else:
                block = np.array(vecs[lo:hi], dtype=np.float32)
            norms = np.linalg.norm(block, axis=1, keepdims=True)
            np.divide(block, norms, out=block, where=norms > 0)  # zero rows stay zero
            if self._file is not None:
                self._file.write(start + lo, block)
            if self.two_pass:
                codes, steps, slack = int8codes.encode(block)
                self._codes[start + lo : start + hi] = codes
                self._steps[start + lo : start + hi] = steps
                self._row_slack[start + lo : start + hi] = slack
        for slot in range(start, end):
            row = int(self._ids[slot])
            self._slot[row] = slot
            self._digest ^= _mix(row)
        self._count = end

    def remove(self, rowids: Iterable[int]) -> None:
        with self._lock:
            self._remove_locked(rowids)

    def _remove_locked(self, rowids: Iterable[int]) -> None:
        for rowid in rowids:
            slot = self._slot.pop(rowid, None)
            if slot is None:
                continue
            self._digest ^= _mix(rowid)
            last = self._count - 1
            if slot != last:  # move the last row into the hole: O(1) delete
                moved = int(self._ids[last])
                for array in (
                    self._ids,
                    self._created,
                    self._codes,
                    self._steps,
                    self._row_slack,
                ):
                    array[slot] = array[last]
                if self._file is not None:
                    self._file.move(slot, last)
                else:
                    self._vecs[slot] = self._vecs[last]
                self._slot[moved] = slot
            self._count = last

    def apply(
        self, changes: Sequence[Change], position: int, followed: Cursor | None = None
    ) -> None:
        """Follow the change feed: add stored rows, drop deleted ones, then record ``position``.

        Only :class:`memhub.actors.follower.ChangeFollower` calls this, in feed order. A stored
        change without a vector (its engine did not have it at hand) must have been completed
        by the caller; one still without is skipped (the row has no embedding yet).
        """
        stored = [c for c in changes if c.kind == "stored" and c.vector is not None]
        removed = [c.row for c in changes if c.kind == "deleted"]
        with self._lock:
            if stored:
                vecs = np.stack([c.vector for c in stored if c.vector is not None])
                self._extend_locked(
                    [c.row for c in stored],
                    vecs,
                    [c.memory.created_at if c.memory is not None else 0.0 for c in stored],
                )
            self._remove_locked(removed)
        # The facets before the position: a snapshot that reads the new position must find
        # the changes up to it in the facets too (it scores the rows after it itself).
        self.facets.apply(changes)
        with self._lock:
            self.position = max(self.position, position)
            if followed is not None:
                self.followed = followed

    # -- search --------------------------------------------------------------------------------

    def distances(self, similarity: npt.NDArray[np.float32]) -> FloatArray:
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
        unit = np.asarray(query, dtype=np.float32)  # a unit row: embedders return them
        if k <= 0:
            return []
        with self._lock:
            n = self._count
            rows = self._competing_rows(n, allowed, exclude, created_since)
            competing = n if rows is None else rows.shape[0]
            small = competing < TWO_PASS_MIN_ROWS and self._file is None
            if self.two_pass and k < competing and not small:
                rows = int8codes.candidate_rows(
                    unit, self._codes[:n], self._steps[:n], self._row_slack[:n], k, rows
                )
            if rows is None and self._file is not None:
                rows = np.arange(n, dtype=np.intp)  # k covers every row: read them all
            if rows is None:
                cand_ids = self._ids[:n].copy()
                sims = self._vecs[:n] @ unit
            else:
                cand_ids = self._ids[rows]
                picked = self._vecs[rows] if self._file is None else self._file.take(rows)
                sims = picked @ unit
        if cand_ids.shape[0] == 0:
            return []
        order = _top_k(cand_ids, sims, k)
        dists = self.distances(sims[order])
        return [(int(cand_ids[i]), float(d)) for i, d in zip(order, dists, strict=True)]

    def _competing_rows(
        self,
        n: int,
        allowed: npt.NDArray[np.int64] | None,
        exclude: Sequence[int],
        created_since: float | None,
    ) -> npt.NDArray[np.intp] | None:
        """Slots that pass the filters, or ``None`` for all ``n`` (caller holds the lock)."""
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
        return None if mask is None else np.flatnonzero(mask)


def _top_k(ids: npt.NDArray[np.int64], sims: FloatArray, k: int) -> npt.NDArray[np.intp]:
    """Positions of the ``k`` best rows, best first, equal similarities by ascending rowid.

    The tie rule makes the answer a function of the similarities alone: two float32 products
    can round to the same value (rows closer than ~1e-7 in cosine), and without it which of them
    makes the cut would depend on the order the rows were scanned in.
    """
    if k < sims.shape[0]:
        kth = np.partition(sims, sims.shape[0] - k)[sims.shape[0] - k]
        top = np.flatnonzero(sims >= kth)  # every row tied with the k-th is still in
    else:
        top = np.arange(sims.shape[0])
    return top[np.lexsort((ids[top], -sims[top]))][:k]


def nearest_passing(
    index: VectorIndex,
    query_vector: FloatArray,
    limit: int,
    allowed: npt.NDArray[np.int64] | None,
    skip: list[int],
    passing: Callable[[list[int]], Container[int]],
) -> list[tuple[int, float]]:
    """The ``limit`` nearest mirror rows (among ``allowed``) that ``passing`` keeps, nearest
    first, asking the mirror for geometrically more rows until enough pass."""
    best: list[tuple[int, float]] = []
    rejected: list[int] = list(skip)
    want = limit + 8  # a few more than needed: rows hidden in this snapshot get rejected
    while len(best) < limit:
        batch = index.nearest(query_vector, want, allowed=allowed, exclude=rejected)
        kept = passing([row for row, _ in batch])
        for row, distance in batch:
            rejected.append(row)
            if row in kept and len(best) < limit:
                best.append((row, distance))
        if len(batch) < want:
            break  # the mirror has nothing more
        want *= 4
    return best
