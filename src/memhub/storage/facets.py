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
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from memhub.domain.tags import tag_keys

if TYPE_CHECKING:
    from memhub.storage.model import Change, Filters


class FacetIndex:
    """Tag and store memberships of the rows a mirror holds (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tags: defaultdict[str, set[int]] = defaultdict(set)
        self._stores: defaultdict[str, set[int]] = defaultdict(set)
        self._rows: dict[int, tuple[tuple[str, ...], str]] = {}
        self.ready = False

    def __len__(self) -> int:
        return len(self._rows)

    def load(self, rows: Iterable[tuple[int, Sequence[str], str]]) -> None:
        """Replace everything with ``(row, tags, store)`` of every row the mirror holds."""
        with self._lock:
            self._tags.clear()
            self._stores.clear()
            self._rows.clear()
            for row, tags, store in rows:
                self._add_locked(row, tags, store)
            self.ready = True

    def apply(self, changes: Sequence[Change]) -> None:
        """Follow the change feed (the same batches the mirror follows)."""
        with self._lock:
            for change in changes:
                self._remove_locked(change.row)
                if change.kind != "deleted" and change.memory is not None:
                    self._add_locked(change.row, change.memory.tags, change.store)

    def invalidate(self) -> None:
        """Another program wrote the store: answer nothing until :meth:`load` runs again."""
        with self._lock:
            self.ready = False

    def _add_locked(self, row: int, tags: Sequence[str], store: str) -> None:
        keys = tag_keys(tags)
        self._rows[row] = (keys, store)
        for key in keys:
            self._tags[key].add(row)
        self._stores[store].add(row)

    def _remove_locked(self, row: int) -> None:
        held = self._rows.pop(row, None)
        if held is None:
            return
        keys, store = held
        for key in keys:
            members = self._tags.get(key)
            if members is not None:
                members.discard(row)
                if not members:
                    del self._tags[key]
        in_store = self._stores.get(store)
        if in_store is not None:
            in_store.discard(row)

    def candidates(self, filters: Filters) -> npt.NDArray[np.int64] | None:
        """The rows that may match the tag and store parts of ``filters``, or None when the
        index cannot narrow them (no such parts, or not ready)."""
        with self._lock:
            if not self.ready:
                return None
            picked: set[int] | None = None
            if filters.store is not None:
                picked = set(self._stores.get(filters.store, ()))
            wanted = tag_keys(filters.tags)
            if wanted:
                sets = [self._tags.get(key, set()) for key in wanted]
                tagged = set.intersection(*sets) if filters.match_all else set().union(*sets)
                picked = tagged if picked is None else picked & tagged
            elif filters.tags:
                picked = set()  # only blank tags: nothing passes (the tag rule)
        if picked is None:
            return None
        return np.fromiter(picked, dtype=np.int64, count=len(picked))
