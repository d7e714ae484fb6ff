"""Which mirror rows carry a tag, or sit in a store: filters answered beside the vectors.

A filtered semantic search needs the ids of the rows its filter matches before the top-k cut.
When the nearest few hundred rows hold too few matches (a rare tag, a small store), listing every
matching id costs a scan of ``memories`` in SQL (~20 ms at 100k rows: ``LIKE`` cannot use an
index). This index answers the tag and store parts of a filter from RAM instead.

It only ever *narrows the candidates*: each candidate is still checked against the whole filter
in the reader's snapshot, so a row the index holds wrongly is never returned. What it must never
do is miss a row that matches, so its keys are the tag rule's own (:func:`memhub.domain.tags.
carries`: entries with spaces removed and ASCII letters folded), it follows the change feed like
the mirror, and it is rebuilt from the store whenever another program committed to it (which may
have edited tags in place, something no feed itemises).

Memory: a million memories with three tags each are three million row ids. Held as Python sets
they took ~550 MB; here each key's members are a sorted ``int64`` array (8 bytes a member) plus
two small sets of the rows added and removed since, folded into the array now and then. A change
names the facets a memory had before it (``Change.before``), so nothing per row is kept to undo
it; a change that does not (none the engines send today) leaves the old keys holding the row,
which is a harmless extra candidate.
"""

from __future__ import annotations

import threading
from array import array
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from memhub.domain.tags import tag_keys

if TYPE_CHECKING:
    from memhub.storage.model import Change, Filters

IdArray = npt.NDArray[np.int64]
_EMPTY: Final = np.zeros(0, dtype=np.int64)
#: Pending additions and removals of a key are folded into its array past this many (plus a
#: sixteenth of the array): each fold costs a pass over the array, so they stay rare.
FOLD_AFTER: Final = 4096


class _Members:
    """The rows of one key: ``base`` (sorted, unique) plus what changed since."""

    __slots__ = ("added", "base", "fold_after", "removed")

    def __init__(self, base: IdArray = _EMPTY, fold_after: int = FOLD_AFTER) -> None:
        self.base = base
        self.fold_after = fold_after
        self.added: set[int] = set()
        self.removed: set[int] = set()

    def add(self, row: int) -> None:
        self.removed.discard(row)
        self.added.add(row)
        self._maybe_fold()

    def remove(self, row: int) -> None:
        self.added.discard(row)
        self.removed.add(row)
        self._maybe_fold()

    def size(self) -> int:
        """An upper bound of the member count (cheap)."""
        return int(self.base.shape[0]) + len(self.added)

    def ids(self) -> IdArray:
        """The members, sorted and unique (a new array)."""
        base = self.base
        if self.removed:
            gone = np.fromiter(self.removed, dtype=np.int64, count=len(self.removed))
            base = base[~np.isin(base, gone, assume_unique=True)]
        if not self.added:
            return base.copy() if base is self.base else base
        fresh = np.fromiter(self.added, dtype=np.int64, count=len(self.added))
        return np.union1d(base, fresh)

    def _maybe_fold(self) -> None:
        if len(self.added) + len(self.removed) > self.fold_after + self.base.shape[0] // 16:
            self.base = self.ids()
            self.added.clear()
            self.removed.clear()


class FacetIndex:
    """Tag and store memberships of the rows a mirror holds (thread-safe)."""

    def __init__(self, *, fold_after: int = FOLD_AFTER) -> None:
        self._fold_after = fold_after
        self._lock = threading.Lock()
        self._tags: dict[str, _Members] = {}
        self._stores: dict[str, _Members] = {}
        self.ready = False

    def load(self, rows: Iterable[tuple[int, Sequence[str], str]]) -> None:
        """Replace everything with ``(row, tags, store)`` of every row the mirror holds."""
        tag_rows: defaultdict[str, array[int]] = defaultdict(lambda: array("q"))
        store_rows: defaultdict[str, array[int]] = defaultdict(lambda: array("q"))
        for row, tags, store in rows:
            for key in tag_keys(tags):
                tag_rows[key].append(row)
            store_rows[store].append(row)
        fold = self._fold_after
        tags_built = {key: _Members(_sorted(ids), fold) for key, ids in tag_rows.items()}
        stores_built = {key: _Members(_sorted(ids), fold) for key, ids in store_rows.items()}
        with self._lock:
            self._tags, self._stores = tags_built, stores_built
            self.ready = True

    def apply(self, changes: Sequence[Change]) -> None:
        """Follow the change feed (the same batches the mirror follows)."""
        with self._lock:
            for change in changes:
                before = change.before
                if before is not None:
                    for key in tag_keys(before.tags):
                        self._member(self._tags, key).remove(change.row)
                    self._member(self._stores, before.store).remove(change.row)
                if change.kind != "deleted" and change.memory is not None:
                    for key in tag_keys(change.memory.tags):
                        self._member(self._tags, key).add(change.row)
                    self._member(self._stores, change.store).add(change.row)

    def invalidate(self) -> None:
        """Another program wrote the store: answer nothing until :meth:`load` runs again."""
        with self._lock:
            self.ready = False

    def _member(self, keys: dict[str, _Members], key: str) -> _Members:
        members = keys.get(key)
        if members is None:
            members = keys[key] = _Members(fold_after=self._fold_after)
        return members

    def candidates(self, filters: Filters) -> IdArray | None:
        """The rows that may match the tag and store parts of ``filters``, or None when the
        index cannot narrow them (no such parts, or not ready)."""
        with self._lock:
            if not self.ready:
                return None
            wanted = tag_keys(filters.tags)
            if filters.tags and not wanted:
                return _EMPTY.copy()  # only blank tags: nothing passes (the tag rule)
            tagged: IdArray | None = None
            if wanted:
                sets = [self._tags.get(key) for key in wanted]
                if filters.match_all:
                    if any(s is None for s in sets):
                        return _EMPTY.copy()
                    present = sorted((s for s in sets if s is not None), key=_Members.size)
                    tagged = present[0].ids()
                    for other in present[1:]:
                        tagged = np.intersect1d(tagged, other.ids(), assume_unique=True)
                else:
                    parts = [s.ids() for s in sets if s is not None]
                    if len(parts) == 1:
                        tagged = parts[0]  # already sorted and unique
                    else:
                        tagged = np.unique(np.concatenate(parts)) if parts else _EMPTY.copy()
            if filters.store is None:
                return tagged
            in_store = self._stores.get(filters.store)
            if in_store is None:
                return _EMPTY.copy()
            everything = sum(s.size() for s in self._stores.values())
            if 2 * in_store.size() >= everything:
                # A store of most rows narrows little: the snapshot checks the store of each
                # candidate anyway, and a list of most rows would cost every search a pass
                # over it (a time filter alone then takes the cheaper nearest-prefix path).
                return tagged
            if tagged is None:
                return in_store.ids()
            return _intersect_sorted(tagged, in_store.ids())


def _intersect_sorted(some: IdArray, others: IdArray) -> IdArray:
    """The members of both sorted, unique arrays: a binary search of the smaller in the larger
    (``np.intersect1d`` sorts both again)."""
    small, big = (some, others) if some.shape[0] <= others.shape[0] else (others, some)
    if small.shape[0] == 0 or big.shape[0] == 0:
        return _EMPTY.copy()
    at = np.minimum(np.searchsorted(big, small), big.shape[0] - 1)
    found: IdArray = small[big[at] == small]
    return found


def _sorted(ids: array[int]) -> IdArray:
    return np.unique(np.frombuffer(ids, dtype=np.int64))
