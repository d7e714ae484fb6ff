"""The daemon's health report: one answer assembled from every actor and the engine.

``healthy`` means the store answers reads and accepts writes. A store that is gone (a deleted
or replaced SQLite file, see the writer's ``file_problem``) or unreadable makes the report
``unhealthy`` with the reason; the counts come from a reader's snapshot, the sizes from the
engine's description of itself.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Literal

import trio

from memhub import PROTOCOL_VERSION, __version__
from memhub.errors import ServiceError
from memhub.protocol import messages as m

if TYPE_CHECKING:
    from memhub.actors.embedder import EmbeddingActor
    from memhub.actors.events import EventHub
    from memhub.actors.reader import ReaderPool
    from memhub.actors.writer import WriterActor
    from memhub.callers import Callers
    from memhub.config import Settings
    from memhub.storage.engine import Snapshot, Storage


class HealthReporter:
    """Builds :class:`~memhub.protocol.messages.HealthReport` answers."""

    def __init__(
        self,
        settings: Settings,
        *,
        writer: WriterActor,
        readers: ReaderPool,
        embedder: EmbeddingActor,
        storage: Storage,
        hub: EventHub,
        callers: Callers,
    ) -> None:
        self._settings = settings
        self._writer = writer
        self._readers = readers
        self._embedder = embedder
        self._storage = storage
        self._hub = hub
        self._callers = callers
        self._started = time.monotonic()
        #: What the last integrity check of the store found (None: nothing, or not run yet).
        self.integrity_problem: str | None = None
        self.integrity_checked = trio.Event()  # set once the first check has run

    async def report(self, request_id: int = 0) -> m.HealthReport:
        status: Literal["healthy", "unhealthy"] = "healthy"
        message = "Database is healthy"
        try:
            active, deleted = await self._readers.submit(_counts)
        except ServiceError as exc:
            status, message, active, deleted = "unhealthy", exc.message, 0, 0
        problem = self._writer.file_problem
        if problem is not None:
            status, message = "unhealthy", f"{problem}; writes are refused"
        elif self._writer.failing is not None:
            status = "unhealthy"
            message = f"the last writes failed: {self._writer.failing}"
        elif self.integrity_problem is not None:
            status, message = (
                "unhealthy",
                f"the store fails its integrity check: {self.integrity_problem}",
            )
        stats = self._storage.describe()
        readers = self._readers
        mirror = self._storage.mirror
        return m.HealthReport(
            id=request_id,
            status=status,
            message=message,
            server_version=__version__,
            protocol=PROTOCOL_VERSION,
            pid=os.getpid(),
            machine=self._settings.machine,
            uptime_s=time.monotonic() - self._started,
            store=m.StoreStats(
                engine=stats.engine,
                engine_version=stats.engine_version,
                extension=stats.extension,
                extension_version=stats.extension_version,
                location=stats.location,
                schema=stats.schema,
                store_bytes=stats.store_bytes,
                log_bytes=stats.log_bytes,
            ),
            total_memories=active,
            deleted_memories=deleted,
            connected_clients=len(self._callers),
            subscribers=len(self._hub),
            writer=self._writer.statistics(),
            embedder=self._embedder.statistics(),
            readers=m.ReaderStats(
                readers=readers.size,
                queue_depth=readers.queue_depth,
                queries=readers.queries,
                timeouts=readers.timeouts,
                mean_query_ms=readers.mean_query_ms,
            ),
            mirror=(
                None
                if mirror is None
                else m.MirrorStats(rows=len(mirror), position=mirror.position, digest=mirror.digest)
            ),
        )


def _counts(snap: Snapshot) -> tuple[int, int]:
    return snap.counts()
