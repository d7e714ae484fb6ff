"""The memory service: turns protocol requests into work for the embedder, writer and readers.

Every request is checked by :class:`~memhub.validation.RequestRules` before anything is queued,
so a bad request fails fast and nothing is written. A store embeds first, outside any
transaction, then queues the insert; the writer does the duplicate checks and the insert
atomically. Each write names the client that asked for it, which the change feed carries to
every subscriber. Health, the web UI's counts and the caller registry are collaborators of their
own (:mod:`memhub.health`, :mod:`memhub.counts`, :mod:`memhub.callers`).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import trio

from memhub.callers import Callers
from memhub.counts import StoreCounts
from memhub.domain.hashing import content_hash
from memhub.domain.sessions import session_chunks, session_id_of
from memhub.domain.timeparse import TimeRangeError, parse_time_expression
from memhub.errors import BadRequest, NotFound
from memhub.extras import dispatch as extras
from memhub.graph import entities
from memhub.health import HealthReporter
from memhub.protocol import messages as m
from memhub.storage.model import Filters, NewMemory
from memhub.validation import RequestRules

if TYPE_CHECKING:
    from memhub.actors.embedder import EmbeddingActor
    from memhub.actors.events import EventHub
    from memhub.actors.follower import ChangeFollower
    from memhub.actors.reader import ReaderPool
    from memhub.actors.writer import WriterActor
    from memhub.config import Settings
    from memhub.credentials import Caller, Credentials
    from memhub.storage.engine import Storage, WriteTxn


class MemoryService:
    """Implements :class:`memhub.transport.backend.Backend` over the actors."""

    def __init__(
        self,
        settings: Settings,
        *,
        writer: WriterActor,
        readers: ReaderPool,
        embedder: EmbeddingActor,
        storage: Storage,
        hub: EventHub,
        follower: ChangeFollower,
        on_shutdown: trio.Event,
        credentials: Credentials,
    ) -> None:
        self.settings = settings
        self.writer = writer
        self.readers = readers
        self.embedder = embedder
        self.storage = storage
        self.hub = hub
        self.follower = follower
        self._shutdown = on_shutdown
        self.rules = RequestRules(settings)
        self.callers = Callers(credentials)
        self.counts = StoreCounts(readers, follower.counts, wake=follower.wake, settle=self._settle)
        self.health_reporter = HealthReporter(
            settings,
            writer=writer,
            readers=readers,
            embedder=embedder,
            storage=storage,
            hub=hub,
            callers=self.callers,
        )

    # -- Backend protocol -----------------------------------------------------------------------

    @property
    def connected_clients(self) -> int:
        return len(self.callers)

    @property
    def last_activity(self) -> float:
        return self.callers.last_activity

    def connection_opened(self, caller: Caller) -> None:
        self.callers.opened(caller)

    def connection_closed(self, caller: Caller) -> None:
        self.callers.closed(caller)

    def request_shutdown(self) -> None:
        self._shutdown.set()

    @contextmanager
    def subscribe(self) -> Iterator[trio.MemoryReceiveChannel[m.Event]]:
        with self.hub.subscribe() as channel:
            yield channel

    async def handle(self, request: m.Request, caller: Caller) -> m.Reply:
        self.callers.last_activity = time.monotonic()
        caller.requests += 1
        caller.in_flight += 1
        try:
            return await self._handle(request, caller)
        finally:
            caller.in_flight -= 1

    async def _handle(self, request: m.Request, caller: Caller) -> m.Reply:
        client = caller.name
        match request:
            case m.Store():
                return await self._store(request, client)
            case m.StoreSession():
                return await self._store_session(request, client)
            case m.Search():
                return await self._search(request)
            case m.ListMemories():
                return await self._list(request)
            case m.Get():
                return await self._get(request)
            case m.Delete():
                return await self._delete(request, client)
            case m.Update():
                return await self._update(request, client)
            case m.CleanupDuplicates(dry_run=True):
                preview = await self.readers.submit(lambda snap: snap.duplicate_hashes())
                return m.CleanedUp(id=request.id, content_hashes=preview, dry_run=True)
            case m.CleanupDuplicates():
                hashes = await self.writer.submit(
                    lambda txn: txn.cleanup_duplicates(), client=client
                )
                return m.CleanedUp(id=request.id, content_hashes=hashes)
            case m.Health():
                return await self.health(request.id)
            case m.IssueTicket():
                return self.callers.issue_ticket(request, caller)
            case m.CountTags():
                return await self.counts.tags(request)
            case m.CountTypes():
                return await self.counts.types(request)
            case m.CountDays():
                return await self.counts.days(request)
            case m.ListClients():
                return self.callers.listing(request)
        if extras.handles(request):  # mcp-memory-service 12.4's extra tools
            return await extras.handle(self, request, client)
        raise BadRequest(f"unsupported request {type(request).__name__}")

    async def _settle(self) -> None:
        """Bring what is derived from the store up to everything committed so far, other
        programs' commits included (for answers that count the whole store)."""
        await self.writer.observe_others()
        await self.follower.caught_up()

    async def health(self, request_id: int = 0) -> m.HealthReport:
        return await self.health_reporter.report(request_id)

    # -- writes ---------------------------------------------------------------------------------

    async def _store(self, req: m.Store, client: str) -> m.Stored:
        rules = self.rules
        store = rules.write_store(req.store)
        content = rules.content(req.content)
        tags = rules.tags(req.tags)
        memory_type, warning = rules.memory_type(req.memory_type)
        metadata = rules.metadata(req.metadata)
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
            store=store,
        )
        record = await self.writer.submit(lambda txn: self._write_one(item, txn), client=client)
        return m.Stored(
            id=req.id,
            content_hash=record.content_hash,
            memory_type=record.memory_type,
            created_at=record.created_at,
            warning=warning,
        )

    def _write_one(self, item: NewMemory, txn: WriteTxn) -> m.MemoryRecord:
        record = txn.store(item)
        entities.on_store(self.settings, txn, record)  # 12.4's opt-in linking, same transaction
        return record

    async def _store_session(self, req: m.StoreSession, client: str) -> m.SessionStored:
        if not req.turns:
            raise BadRequest("a session needs at least one turn")
        store = self.rules.write_store(req.store)
        try:
            session_id = session_id_of(req.session_id or str(uuid.uuid4()))
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        chunks = session_chunks(
            [(turn.role, turn.content) for turn in req.turns],
            session_id,
            tags=self.rules.tags(req.tags),
            metadata=self.rules.metadata(req.metadata),
            chunk_size=self.settings.session_chunk_size,
        )
        for chunk in chunks:
            self.rules.content(chunk.content)
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
                store=store,
            )
            for chunk, vector in zip(chunks, vectors, strict=True)
        ]
        hashes = await self.writer.submit(lambda txn: txn.store_session(items), client=client)
        return m.SessionStored(
            id=req.id, session_id=session_id, content_hashes=hashes, turns=len(req.turns)
        )

    async def _delete(self, req: m.Delete, client: str) -> m.Deleted:
        filters = Filters(
            tags=self.rules.tags(req.tags),
            match_all=req.tag_match == "all",
            after=req.after,
            before=req.before,
            store=self.rules.read_store(req.store),
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
            lambda txn: txn.delete_matching(filters, req.content_hash), client=client
        )
        return m.Deleted(id=req.id, content_hashes=hashes, dry_run=False)

    async def _update(self, req: m.Update, client: str) -> m.Updated:
        tags = self.rules.tags(req.tags) if req.tags is not None else None
        memory_type = self.rules.memory_type(req.memory_type)[0] if req.memory_type else None
        metadata = self.rules.metadata(req.metadata) if req.metadata is not None else None
        store = self.rules.read_store(req.store) if req.store is not None else None

        def update(txn: WriteTxn) -> tuple[m.MemoryRecord, list[str]]:
            return txn.update(
                req.content_hash,
                tags=tags,
                memory_type=memory_type,
                metadata=metadata,
                preserve_timestamps=req.preserve_timestamps,
                store=store,
            )

        _, fields = await self.writer.submit(update, client=client)
        return m.Updated(id=req.id, content_hash=req.content_hash, fields=fields)

    # -- reads ----------------------------------------------------------------------------------

    async def _search(self, req: m.Search) -> m.SearchResult:
        rules = self.rules
        limit = rules.limit(req.limit)
        after, before = req.after, req.before
        if req.time_expr:
            try:
                start, end = parse_time_expression(req.time_expr)
            except TimeRangeError as exc:
                raise BadRequest(f"invalid time_expr: {exc}") from None
            if start is not None or end is not None:
                after, before = start, end
        filters = Filters(
            tags=rules.tags(req.tags),
            match_all=req.tag_match == "all",
            memory_type=rules.pattern("memory_type", req.memory_type) if req.memory_type else None,
            after=after,
            before=before,
            include_superseded=req.include_superseded,
            agent_id=rules.pattern("agent_id", req.agent_id) if req.agent_id else req.agent_id,
            store=rules.read_store(req.store),
        )
        query = (req.query or "").strip()
        if req.mode == "exact":
            if not query:
                raise BadRequest("query is required for exact mode")
            rules.pattern("query", query)
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
        size = self.rules.limit(req.page_size, 100)
        stale_before = None
        if req.stale_days is not None:
            if req.stale_days < 1:
                raise BadRequest("stale_days must be at least 1")
            stale_before = time.time() - req.stale_days * 86400
        filters = Filters(
            tags=self.rules.tags(req.tags),
            match_all=req.tag_match == "all",
            memory_type=(
                self.rules.pattern("memory_type", req.memory_type) if req.memory_type else None
            ),
            stale_before=stale_before,
            agent_id=self.rules.pattern("agent_id", req.agent_id) if req.agent_id else req.agent_id,
            store=self.rules.read_store(req.store),
        )
        # The followed totals answer the count of a store-wide list without a scan.
        known = await self.counts.memories_if_counted(filters.store) if filters.only_store else None
        records, total = await self.readers.submit(
            lambda snap: snap.list_page(filters, page=req.page, page_size=size, total=known)
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
