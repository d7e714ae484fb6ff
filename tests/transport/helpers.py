"""A toy backend (a dict of memories) and helpers to serve it on a real socket."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from typing import Any

import orjson
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from memhub import PROTOCOL_VERSION
from memhub.credentials import Caller
from memhub.errors import Duplicate, NotFound, ShuttingDown
from memhub.protocol import messages as m
from memhub.transport.server import ApiServer, serve_websocket_api

TOKEN = "test-token"
LIMIT = 256 * 1024
IDENTITY = m.Welcome(
    id=0,
    protocol=PROTOCOL_VERSION,
    server_version="0.0-test",
    store="/tmp/toy.db",
    engine="sqlite",
    machine="toybox",
    pid=4242,
    schema="toy-v1",
    embedder="toy:hash",
    embedding_dim=8,
)


def record(content: str) -> m.MemoryRecord:
    return m.MemoryRecord(
        content_hash=content,
        content=content,
        tags=[],
        memory_type="note",
        metadata={},
        created_at=1.0,
        updated_at=1.0,
        created_at_iso="1970-01-01T00:00:01Z",
        updated_at_iso="1970-01-01T00:00:01Z",
    )


class ToyBackend:
    """Stores contents by themselves as hash. Special contents trigger failures."""

    def __init__(self) -> None:
        self.memories: dict[str, m.MemoryRecord] = {}
        self.opened = 0
        self.closed = 0
        self.shutdown_requested = False
        self.entered = 0
        self.jitter = False
        self.refuse_subscriptions = False
        self._open_gate = trio.Event()
        self._open_gate.set()
        self._progress = trio.Event()
        self._subscribers: list[trio.MemorySendChannel[m.Event]] = []
        self._receivers: list[trio.MemoryReceiveChannel[m.Event]] = []

    def block(self) -> None:
        self._open_gate = trio.Event()

    def unblock(self) -> None:
        self._open_gate.set()

    def _tick(self) -> None:
        self._progress.set()
        self._progress = trio.Event()

    async def wait_entered(self, count: int) -> None:
        while self.entered < count:
            await self._progress.wait()

    async def wait_closed(self, count: int) -> None:
        while self.closed < count:
            await self._progress.wait()

    async def handle(self, request: m.Request, caller: Caller) -> m.Reply:
        self.entered += 1
        self._tick()
        await self._open_gate.wait()
        if self.jitter:
            await trio.sleep(random.random() / 100)
        if isinstance(request, m.Store):
            if request.content == "boom":
                raise RuntimeError("toy backend bug")
            if request.content in self.memories:
                raise Duplicate("exact duplicate", detail={"content_hash": request.content})
            self.memories[request.content] = record(request.content)
            for send in self._subscribers:
                send.send_nowait(m.Event(kind="stored", content_hash=request.content))
            return m.Stored(
                id=request.id, content_hash=request.content, memory_type="note", created_at=1.0
            )
        if isinstance(request, m.Get):
            if request.content_hash == "huge":
                return m.Found(id=request.id, memory=record("x" * LIMIT))
            if request.content_hash not in self.memories:
                raise NotFound(f"no memory {request.content_hash}")
            return m.Found(id=request.id, memory=self.memories[request.content_hash])
        return m.Ok(id=request.id)

    @contextmanager
    def subscribe(self) -> Iterator[trio.MemoryReceiveChannel[m.Event]]:
        if self.refuse_subscriptions:
            raise ShuttingDown("the daemon is stopping")
        send, recv = trio.open_memory_channel[m.Event](16)
        self._subscribers.append(send)
        self._receivers.append(recv)
        try:
            yield recv
        finally:
            self._subscribers.remove(send)
            self._receivers.remove(recv)
            send.close()

    def drop_subscribers(self) -> None:
        """What the daemon does to subscribers that fall behind."""
        for send in self._subscribers:
            send.close()

    def end_subscriptions_for_shutdown(self) -> None:
        """What the daemon does to subscribers when it stops (EventHub.close)."""
        for recv in self._receivers:
            recv.close()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def connection_opened(self, caller: Caller) -> None:
        self.opened += 1

    def connection_closed(self, caller: Caller) -> None:
        self.closed += 1
        self._tick()

    def request_shutdown(self) -> None:
        self.shutdown_requested = True


async def start_server(nursery: trio.Nursery, backend: ToyBackend, **overrides: Any) -> ApiServer:
    options: dict[str, Any] = {
        "welcome": IDENTITY,
        "host": "127.0.0.1",
        "port": 0,
        "token": TOKEN,
        "max_message_bytes": LIMIT,
        "max_inflight": 8,
        "overload_wait_s": 0.5,
    }
    options.update(overrides)
    server: ApiServer = await nursery.start(partial(serve_websocket_api, backend, **options))
    return server


def url(server: ApiServer) -> str:
    return f"ws://127.0.0.1:{server.port}"


async def ask(ws: WebSocketConnection, frame: dict[str, Any] | str) -> dict[str, Any]:
    """Send one raw frame and return the next frame from the daemon as a dict."""
    await ws.send_message(frame if isinstance(frame, str) else orjson.dumps(frame).decode())
    reply: dict[str, Any] = orjson.loads(await ws.get_message())
    return reply


def hello(token: str = TOKEN, protocol: object = PROTOCOL_VERSION, **extra: Any) -> dict[str, Any]:
    return {"type": "hello", "id": 7, "protocol": protocol, "token": token, **extra}


@asynccontextmanager
async def raw_session(
    server: ApiServer, *, origin: str | None = None, max_message_size: int = 4 * LIMIT
) -> AsyncIterator[WebSocketConnection]:
    """A websocket that has said hello successfully."""
    headers = [(b"Origin", origin.encode())] if origin else None
    async with open_websocket_url(
        url(server), extra_headers=headers, max_message_size=max_message_size
    ) as ws:
        welcome = await ask(ws, hello())
        assert welcome["type"] == "welcome"
        yield ws
