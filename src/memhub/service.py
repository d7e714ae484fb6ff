"""The memory service: turns protocol requests into work for the embedder, writer and readers.

This is the one place that validates input (sizes, tags, types, metadata) before anything is
queued, so a bad request fails fast with a clear ``bad_request`` or ``too_large`` and nothing is
written. A store embeds first, outside any transaction, then queues the insert; the writer does
the duplicate checks and the insert atomically.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import trio

from memhub import PROTOCOL_VERSION, __version__
from memhub.actors.embedder import EmbeddingActor
from memhub.actors.events import EventHub
from memhub.actors.reader import ReaderPool
from memhub.actors.writer import WriterActor
from memhub.config import Settings
from memhub.counts import StoreCounts
from memhub.credentials import CURRENT_CALLER, TICKET_TTL_S, Caller, Credentials
from memhub.domain.content import ContentError, check_content, check_metadata
from memhub.domain.hashing import content_hash
from memhub.domain.ontology import canonical_memory_type, custom_types_from_env
from memhub.domain.sessions import session_chunks, session_id_of
from memhub.domain.tags import normalize_tags
from memhub.domain.timeparse import TimeRangeError, parse_time_expression
from memhub.errors import BadRequest, NotFound, ServiceError, TooLarge, Unauthorized
from memhub.protocol import messages as m
from memhub.protocol.limits import metadata_problem
from memhub.storage.engine import Snapshot, Storage, WriteTxn
from memhub.storage.queries import Filters
from memhub.storage.writes import NewMemory

T = TypeVar("T")


class MemoryService:
    """Implements :class:`memhub.transport.backend.Backend` over the three actors."""

    def __init__(
        self,
        settings: Settings,
        *,
        writer: WriterActor,
        readers: ReaderPool,
        embedder: EmbeddingActor,
        storage: Storage,
        hub: EventHub,
        sqlite_version: str,
        sqlite_vec_version: str,
        on_shutdown: trio.Event,
        credentials: Credentials | None = None,
    ) -> None:
        self.settings = settings
        self.writer = writer
        self.readers = readers
        self.embedder = embedder
        self.storage = storage
        self.hub = hub
        self._sqlite_version = sqlite_version
        self._sqlite_vec_version = sqlite_vec_version
        self._shutdown = on_shutdown
        self._started = time.monotonic()
        self._custom_types = custom_types_from_env(
            {"MCP_CUSTOM_MEMORY_TYPES": settings.custom_memory_types}
            if settings.custom_memory_types
            else {}
        )
        self.connected_clients = 0
        self.last_activity = time.monotonic()
        self._credentials = credentials
        self._callers: dict[Caller, None] = {}  # insertion-ordered set: oldest first
        self.counts = StoreCounts(readers)
        hub.add_listener(self.counts.observe)

    # -- Backend protocol -----------------------------------------------------------------------

    def connection_opened(self) -> None:
        self.connected_clients += 1
        self.last_activity = time.monotonic()
        caller = CURRENT_CALLER.get()
        if caller is not None:
            self._callers[caller] = None

    def connection_closed(self) -> None:
        self.connected_clients -= 1
        self.last_activity = time.monotonic()
        caller = CURRENT_CALLER.get()
        if caller is not None:
            self._callers.pop(caller, None)

    def request_shutdown(self) -> None:
        self._shutdown.set()

    @contextmanager
    def subscribe(self) -> Iterator[trio.MemoryReceiveChannel[m.Event]]:
        with self.hub.subscribe() as channel:
            yield channel

    async def handle(self, request: m.Request) -> m.Reply:
        self.last_activity = time.monotonic()
        caller = CURRENT_CALLER.get()
        if caller is None:
            return await self._handle(request)
        caller.requests += 1
        caller.in_flight += 1
        try:
            return await self._handle(request)
        finally:
            caller.in_flight -= 1

    async def _handle(self, request: m.Request) -> m.Reply:
        match request:
            case m.Store():
                return await self._store(request)
            case m.StoreSession():
                return await self._store_session(request)
            case m.Search():
                return await self._search(request)
            case m.ListMemories():
                return await self._list(request)
            case m.Get():
                return await self._get(request)
            case m.Delete():
                return await self._delete(request)
            case m.Update():
                return await self._update(request)
            case m.CleanupDuplicates(dry_run=True):
                preview = await self.readers.submit(lambda snap: snap.duplicate_hashes())
                return m.CleanedUp(id=request.id, content_hashes=preview, dry_run=True)
            case m.CleanupDuplicates():
                hashes = await self.writer.submit(_attributed(lambda txn: txn.cleanup_duplicates()))
                return m.CleanedUp(id=request.id, content_hashes=hashes)
            case m.Health():
                return await self.health(request.id)
            case m.IssueTicket():
                return self._issue_ticket(request)
            case m.CountTags():
                return await self.counts.tags(request)
            case m.CountTypes():
                return await self.counts.types(request)
            case m.CountDays():
                return await self.counts.days(request)
            case m.ListClients():
                return self._list_clients(request)
        raise BadRequest(f"unsupported request {type(request).__name__}")

    # -- validation -----------------------------------------------------------------------------

    def _tags(self, raw: list[str]) -> list[str]:
        if len(raw) > self.settings.max_tags:
            raise TooLarge(f"too many tags: {len(raw)} (at most {self.settings.max_tags})")
        try:
            return normalize_tags(raw)
        except ValueError as exc:
            raise BadRequest(f"invalid tags: {exc}") from None

    def _content(self, content: str) -> str:
        try:
            return check_content(content, self.settings.max_content_chars)
        except ContentError as exc:
            raise _content_failure(exc) from None

    @staticmethod
    def _metadata(metadata: dict[str, Any]) -> dict[str, Any]:
        # The limits every reply can encode (checked first: json.dumps recurses).
        if (problem := metadata_problem(metadata)) is not None:
            raise BadRequest(f"metadata is not accepted: {problem}")
        try:
            return check_metadata(metadata)
        except ContentError as exc:
            raise _content_failure(exc) from None

    def _type(self, requested: str | None) -> tuple[str, str | None]:
        return canonical_memory_type(requested, custom=self._custom_types)

    @staticmethod
    def _limit(value: int, upper: int = 1000) -> int:
        if not 1 <= value <= upper:
            raise BadRequest(f"limit must be between 1 and {upper}")
        return value

    # -- writes ---------------------------------------------------------------------------------

    async def _store(self, req: m.Store) -> m.Stored:
        content = self._content(req.content)
        tags = self._tags(req.tags)
        memory_type, warning = self._type(req.memory_type)
        metadata = self._metadata(req.metadata)
        if req.conversation_id is not None:
            metadata["conversation_id"] = req.conversation_id
        vector = (await self.embedder.embed([content]))[0]
        item = NewMemory(
            content=content,
            content_hash=content_hash(content),
            tags=tags,
            memory_type=memory_type,
            metadata=metadata,
            vector=vector,
            skip_semantic_dedup=(
                req.skip_semantic_dedup
                or req.conversation_id is not None
                or memory_type == "session"
            ),
        )
        record: m.MemoryRecord = await self.writer.submit(_attributed(lambda txn: txn.store(item)))
        return m.Stored(
            id=req.id,
            content_hash=record.content_hash,
            memory_type=record.memory_type,
            created_at=record.created_at,
            warning=warning,
        )

    async def _store_session(self, req: m.StoreSession) -> m.SessionStored:
        if not req.turns:
            raise BadRequest("a session needs at least one turn")
        try:
            session_id = session_id_of(req.session_id or str(uuid.uuid4()))
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        chunks = session_chunks(
            [(turn.role, turn.content) for turn in req.turns],
            session_id,
            tags=self._tags(req.tags),
            metadata=self._metadata(req.metadata),
            chunk_size=self.settings.session_chunk_size,
        )
        for chunk in chunks:
            self._content(chunk.content)
        vectors = await self.embedder.embed([chunk.content for chunk in chunks])
        items = [
            NewMemory(
                content=chunk.content,
                content_hash=content_hash(chunk.content),
                tags=chunk.tags,
                memory_type="session",
                metadata=chunk.metadata,
                vector=vector,
                skip_semantic_dedup=True,
            )
            for chunk, vector in zip(chunks, vectors, strict=True)
        ]
        hashes = await self.writer.submit(_attributed(lambda txn: txn.store_session(items)))
        return m.SessionStored(
            id=req.id, session_id=session_id, content_hashes=hashes, turns=len(req.turns)
        )

    async def _delete(self, req: m.Delete) -> m.Deleted:
        filters = Filters(
            tags=self._tags(req.tags),
            match_all=req.tag_match == "all",
            after=req.after,
            before=req.before,
        )
        if req.content_hash is None and not (
            filters.tags or req.after is not None or req.before is not None
        ):
            raise BadRequest("At least one filter required (content_hash, tags, before, or after)")
        if req.dry_run:
            preview = await self.readers.submit(
                lambda snap: snap.matching_hashes(filters, req.content_hash)
            )
            return m.Deleted(id=req.id, content_hashes=preview, dry_run=True)
        hashes = await self.writer.submit(
            _attributed(lambda txn: txn.delete_matching(filters, req.content_hash))
        )
        return m.Deleted(id=req.id, content_hashes=hashes, dry_run=False)

    async def _update(self, req: m.Update) -> m.Updated:
        tags = self._tags(req.tags) if req.tags is not None else None
        memory_type = self._type(req.memory_type)[0] if req.memory_type is not None else None
        metadata = self._metadata(req.metadata) if req.metadata is not None else None

        def update(txn: WriteTxn) -> tuple[m.MemoryRecord, list[str]]:
            return txn.update(
                req.content_hash,
                tags=tags,
                memory_type=memory_type,
                metadata=metadata,
                preserve_timestamps=req.preserve_timestamps,
            )

        _, fields = await self.writer.submit(_attributed(update))
        return m.Updated(id=req.id, content_hash=req.content_hash, fields=fields)

    # -- reads ----------------------------------------------------------------------------------

    async def _search(self, req: m.Search) -> m.SearchResult:
        limit = self._limit(req.limit)
        after, before = req.after, req.before
        if req.time_expr:
            try:
                start, end = parse_time_expression(req.time_expr)
            except TimeRangeError as exc:
                raise BadRequest(f"invalid time_expr: {exc}") from None
            if start is not None or end is not None:
                after, before = start, end
        filters = Filters(
            tags=self._tags(req.tags),
            match_all=req.tag_match == "all",
            memory_type=req.memory_type,
            after=after,
            before=before,
            include_superseded=req.include_superseded,
            agent_id=req.agent_id,
        )
        query = (req.query or "").strip()
        if req.mode == "exact":
            if not query:
                raise BadRequest("query is required for exact mode")
            hits = await self.readers.submit(lambda snap: snap.exact_search(query, filters, limit))
        elif not query:
            hits = await self.readers.submit(lambda snap: snap.recent(filters, limit))
        else:
            vector = (await self.embedder.embed([query], use_cache=True))[0]
            if req.mode == "hybrid":
                hits = await self.readers.submit(
                    lambda snap: snap.hybrid_search(query, vector, filters, limit)
                )
            else:
                hits = await self.readers.submit(
                    lambda snap: snap.semantic_search(vector, filters, limit)
                )
        debug = None
        if req.include_debug:
            debug = {
                "returned": len(hits),
                "limit": limit,
                "time_range": [after, before],
                "vector_index": self.settings.vector_index,
                "filters_before_cut": True,
            }
        return m.SearchResult(id=req.id, mode=req.mode, query=req.query, hits=hits, debug=debug)

    async def _list(self, req: m.ListMemories) -> m.Page:
        if req.page < 1:
            raise BadRequest("page must be at least 1")
        size = self._limit(req.page_size, 100)
        stale_before = None
        if req.stale_days is not None:
            if req.stale_days < 1:
                raise BadRequest("stale_days must be at least 1")
            stale_before = time.time() - req.stale_days * 86400
        filters = Filters(
            tags=self._tags(req.tags),
            match_all=req.tag_match == "all",
            memory_type=req.memory_type,
            stale_before=stale_before,
            agent_id=req.agent_id,
        )
        records, total = await self.readers.submit(
            lambda snap: snap.list_page(filters, page=req.page, page_size=size)
        )
        total_pages = math.ceil(total / size) if total else 0
        return m.Page(
            id=req.id,
            memories=records,
            page=req.page,
            page_size=size,
            total=total,
            total_pages=total_pages,
            has_more=req.page < total_pages,
        )

    async def _get(self, req: m.Get) -> m.Found:
        record = await self.readers.submit(lambda snap: snap.get(req.content_hash))
        if record is None:
            raise NotFound(f"Memory with hash {req.content_hash} not found")
        return m.Found(id=req.id, memory=record)

    # -- the web UI: tickets, aggregates, clients -------------------------------------------------

    def _issue_ticket(self, req: m.IssueTicket) -> m.Ticket:
        caller = CURRENT_CALLER.get()
        if self._credentials is None or caller is None or caller.kind != "token":
            raise Unauthorized("only a client holding the daemon's token may issue tickets")
        return m.Ticket(
            id=req.id, ticket=self._credentials.issue_ticket(), expires_in_s=TICKET_TTL_S
        )

    def _list_clients(self, req: m.ListClients) -> m.Clients:
        clients = [
            m.ClientInfo(
                name=c.name,
                kind=c.kind,
                connected_at=c.connected_at,
                requests=c.requests,
                in_flight=c.in_flight,
            )
            for c in self._callers
        ]
        return m.Clients(id=req.id, clients=clients)

    async def health(self, request_id: int = 0) -> m.HealthReport:
        status: Any = "healthy"
        message = "Database is healthy"
        try:
            active, deleted = await self.readers.submit(_counts)
        except ServiceError as exc:
            status, message, active, deleted = "unhealthy", exc.message, 0, 0
        if self.writer.file_problem is not None:
            status, message = "unhealthy", f"{self.writer.file_problem}; writes are refused"
        path = self.settings.db_path
        embedder = self.embedder.statistics()
        database_bytes, log_bytes = self.storage.sizes()
        return m.HealthReport(
            id=request_id,
            status=status,
            message=message,
            server_version=__version__,
            protocol=PROTOCOL_VERSION,
            pid=os.getpid(),
            uptime_s=time.monotonic() - self._started,
            db_path=str(path),
            schema=self.writer.session.generation,
            sqlite_version=self._sqlite_version,
            sqlite_vec_version=self._sqlite_vec_version,
            total_memories=active,
            deleted_memories=deleted,
            database_size_bytes=database_bytes,
            wal_size_bytes=log_bytes,
            connected_clients=self.connected_clients,
            subscribers=len(self.hub),
            writer=self.writer.statistics(),
            embedder=embedder,
            readers=m.ReaderStats(
                readers=self.readers.size,
                queue_depth=self.readers.queue_depth,
                queries=self.readers.queries,
                timeouts=self.readers.timeouts,
                mean_query_ms=self.readers.mean_query_ms,
                vector_index=self.settings.vector_index,
                indexed_vectors=self.storage.indexed_vectors(),
            ),
        )


def _attributed(write: Callable[[WriteTxn], T]) -> Callable[[WriteTxn], T]:
    """``write`` with the events it records naming the client that asked for it."""
    caller = CURRENT_CALLER.get()
    if caller is None or not caller.name:
        return write
    name = caller.name

    def run(txn: WriteTxn) -> T:
        start = txn.event_count
        result = write(txn)
        txn.name_writer(start, name)
        return result

    return run


def _counts(snap: Snapshot) -> tuple[int, int]:
    return snap.counts()


def _content_failure(exc: ContentError) -> ServiceError:
    return TooLarge(str(exc)) if exc.too_large else BadRequest(str(exc))
