"""The storage contract's harness: an engine opened the way the daemon opens it.

``Engine`` wraps an opened :class:`~memhub.storage.engine.Storage` with the few verbs the
contract tests need (write a batch, read in a snapshot, follow the feed like the change
follower does), so one test runs unchanged over every engine.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import attrs
import outcome

from memhub.config import DEFAULT_PRAGMAS, Settings
from memhub.embedding import HashEmbedder
from memhub.storage import open_storage
from memhub.storage.engine import Cursor, Snapshot, Storage, WriteCall, WriteTxn
from memhub.storage.following import next_batch
from memhub.storage.model import Change

T = TypeVar("T")
ENGINES = ["sqlite", "postgresql"]


def settings_for(kind: str, where: Path, *, url: str | None = None, **overrides: Any) -> Settings:
    """Settings of a store of ``kind``: a file in ``where``, or the database at ``url``."""
    base = Settings(
        db_path=where / "memories.db", pragmas=dict(DEFAULT_PRAGMAS), machine="test-box"
    )
    if kind == "postgresql":
        if url is None:
            raise ValueError("a postgresql store needs the url of a database")
        base = attrs.evolve(base, database_url=url)
        prepare_team_store(url)
    elif kind != "sqlite":
        raise ValueError(kind)
    return attrs.evolve(base, **overrides)


def prepare_team_store(url: str, embedder: str = "hash:v1", dimension: int = 384) -> None:
    """``memhub team init`` for a test database (idempotent)."""
    import os

    from memhub.storage.postgres.opening import init_store
    from memhub.storage.postgres.target import resolve

    init_store(resolve(url, os.environ), embedder=embedder, dimension=dimension)


class Engine:
    """One opened engine and the follower state a daemon would keep beside it."""

    def __init__(self, settings: Settings, embedder: HashEmbedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder or HashEmbedder()
        opening = open_storage(settings)
        self.storage: Storage = opening.complete(self.embedder)
        self.cursor: Cursor = self.storage.load_mirror()
        self._reader = self.storage.open_reader()

    def batch(self, fns: Sequence[Callable[[WriteTxn], object]], client: str = "") -> list[Any]:
        """Run ``fns`` in one batch; their outcomes (values or the errors they raised)."""
        results = self.storage.writer.run_batch([WriteCall(fn, client) for fn in fns])
        return [r.value if isinstance(r, outcome.Value) else _error(r) for r in results]

    def write(self, fn: Callable[[WriteTxn], T], client: str = "") -> T:
        """One write in a batch of its own; raises what the write raised."""
        [result] = self.storage.writer.run_batch([WriteCall(fn, client)])
        return cast("T", result.unwrap())

    def read(self, fn: Callable[[Snapshot], T], timeout: float = 10.0) -> T:
        return self._reader.run(fn, time.monotonic() + timeout)

    def follow(self) -> list[Change]:
        """Advance the mirror over every change committed so far, as the follower does."""
        seen: list[Change] = []
        while True:
            batch = next_batch(self.storage, self.cursor)
            self.cursor = batch.cursor
            seen.extend(batch.changes)
            if not batch.changes:
                return seen

    def close(self) -> None:
        self._reader.close()
        self.storage.close()


def _error(result: outcome.Outcome[object]) -> BaseException:
    assert isinstance(result, outcome.Error)
    return result.error
