"""Following an engine's change feed with its vector mirror: one batch at a time, in order.

The change follower (:mod:`memhub.actors.follower`) runs this in a worker thread; the storage
contract tests run it directly. It is the only code that advances a mirror after its load.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from memhub.storage.model import ChangeBatch

if TYPE_CHECKING:
    from memhub.storage.engine import Cursor, Storage

log = logging.getLogger(__name__)


def next_batch(storage: Storage, cursor: Cursor) -> ChangeBatch:
    """The changes after ``cursor``, with the mirror advanced over them (blocking)."""
    batch = storage.changes_since(cursor)
    mirror = storage.mirror
    if mirror is None:
        return batch
    if batch.gap:
        log.error("the change feed lost changes this daemon had not seen: reloading vectors")
        mirror.clear()
        return ChangeBatch([], storage.load_mirror(), resync=True)
    missing = [c.row for c in batch.changes if c.kind == "stored" and c.vector is None]
    if missing:
        found = storage.vectors(missing)
        changes = [
            c.with_vector(found.get(c.row)) if c.kind == "stored" and c.vector is None else c
            for c in batch.changes
        ]
        batch = ChangeBatch(changes, batch.cursor, resync=batch.resync, foreign=batch.foreign)
    mirror.apply(batch.changes, batch.cursor.mirror_position, batch.cursor)
    if batch.foreign:
        mirror.facets.invalidate()
        storage.load_facets()
    return batch
