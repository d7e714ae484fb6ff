"""A scripted stand-in for the daemon link, and record builders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from memhub.errors import ServiceError
from memhub.mcp_bridge.calls import BridgeStats, Delivery
from memhub.protocol import messages as m

H1 = "a" * 64
H2 = "b" * 64


def record(
    content: str = "hello",
    content_hash: str = H1,
    *,
    tags: list[str] | None = None,
    memory_type: str = "note",
    metadata: dict[str, Any] | None = None,
    created_at: float = 1_700_000_000.5,
) -> m.MemoryRecord:
    return m.MemoryRecord(
        content_hash=content_hash,
        content=content,
        tags=tags or [],
        memory_type=memory_type,
        metadata=metadata or {},
        created_at=created_at,
        updated_at=created_at,
        created_at_iso="2023-11-14T22:13:20.500000Z",
        updated_at_iso="2023-11-14T22:13:20.500000Z",
    )


def hit(memory: m.MemoryRecord, score: float = 0.9) -> m.Hit:
    return m.Hit(memory=memory, score=score)


Answer = m.Reply | ServiceError | Delivery | Callable[[m.Request], m.Reply]


class FakeDaemon:
    """Answers requests from a script: one answer per request, in order.

    An answer is a reply, an error, a full Delivery, or a function from request to reply.
    """

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[m.Request] = []

    async def call(self, request: m.Request) -> Delivery:
        self.requests.append(request)
        assert self.answers, f"unexpected request {request!r}"
        answer = self.answers.pop(0)
        if isinstance(answer, Delivery):
            return answer
        if isinstance(answer, ServiceError):
            return Delivery(error=answer, sent_at=1_000.0)
        if callable(answer):
            return Delivery(reply=answer(request), sent_at=1_000.0)
        return Delivery(reply=answer, sent_at=1_000.0)

    def statistics(self) -> BridgeStats:
        return BridgeStats(tool_calls=4, connects=1, connect_times_ms=(12.5,))

    @property
    def last(self) -> m.Request:
        return self.requests[-1]


def health_report(**overrides: Any) -> m.HealthReport:
    values: dict[str, Any] = {
        "id": 1,
        "status": "healthy",
        "message": "Database is healthy",
        "server_version": "0.2.0",
        "protocol": 2,
        "pid": 4242,
        "machine": "laptop",
        "uptime_s": 12.34,
        "store": m.StoreStats(
            engine="sqlite",
            engine_version="3.54.1",
            extension="sqlite-vec",
            extension_version="v0.1.9",
            location="/data/sqlite_vec.db",
            schema="v12",
            store_bytes=3 * 1024 * 1024,
            log_bytes=0,
        ),
        "total_memories": 7,
        "deleted_memories": 2,
        "connected_clients": 3,
        "subscribers": 0,
        "writer": m.WriterStats(
            queue_depth=0,
            batches=5,
            writes=9,
            last_batch_size=1,
            max_batch_size=3,
            mean_batch_size=1.8,
            busy_retries=0,
            busy_failures=0,
            upkeep_runs=1,
        ),
        "embedder": m.EmbedderStats(
            name="sentence-transformers:all-MiniLM-L6-v2",
            dimension=384,
            queue_depth=0,
            batches=3,
            texts=9,
            max_batch_size=4,
            mean_batch_size=3.0,
            cache_hits=6,
            cache_misses=2,
        ),
        "readers": m.ReaderStats(
            readers=2,
            queue_depth=0,
            queries=10,
            timeouts=0,
            mean_query_ms=1.234,
        ),
        "mirror": m.MirrorStats(rows=7, position=7, digest="0123456789abcdef"),
    }
    values.update(overrides)
    return m.HealthReport(**values)
