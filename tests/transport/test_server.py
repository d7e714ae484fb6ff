"""The websocket server and client against a toy backend, on real sockets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import trio
import trio_websocket

from memhub import PROTOCOL_VERSION
from memhub.errors import Duplicate, Overloaded, Unavailable
from memhub.protocol import messages as m
from memhub.transport.backend import ServerIdentity
from memhub.transport.client import open_daemon_client
from memhub.transport.server import serve_websocket_api

TOKEN = "secret-token"


class ToyBackend:
    def __init__(self) -> None:
        self.gate = trio.Event()
        self.gate.set()
        self.opened = 0
        self.closed = 0
        self.shutdown = False
        self.stored: list[str] = []
        self._subscribers: list[trio.MemorySendChannel[m.Event]] = []

    @property
    def identity(self) -> ServerIdentity:
        return ServerIdentity(
            protocol=PROTOCOL_VERSION,
            server_version="test",
            db_path="/x.db",
            pid=1,
            schema="v12",
            embedder="hash:v1",
            embedding_dim=384,
        )

    async def handle(self, request: m.Request) -> m.Reply:
        await self.gate.wait()
        if isinstance(request, m.Store):
            if request.content == "boom":
                raise RuntimeError("backend bug")
            if request.content in self.stored:
                raise Duplicate("Duplicate content detected (exact match)")
            self.stored.append(request.content)
            for send in self._subscribers:
                send.send_nowait(m.Event(kind="stored", content_hash=request.content))
            return m.Stored(
                id=request.id, content_hash=request.content, memory_type="note", created_at=1.0
            )
        return m.Ok(id=request.id)

    @contextmanager
    def subscribe(self) -> Iterator[trio.MemoryReceiveChannel[m.Event]]:
        send, recv = trio.open_memory_channel[m.Event](100)
        self._subscribers.append(send)
        try:
            yield recv
        finally:
            self._subscribers.remove(send)

    def connection_opened(self) -> None:
        self.opened += 1

    def connection_closed(self) -> None:
        self.closed += 1

    def request_shutdown(self) -> None:
        self.shutdown = True


async def start(
    nursery: trio.Nursery,
    backend: ToyBackend,
    *,
    max_inflight: int = 4,
    overload_wait_s: float = 2.0,
) -> str:
    server = await nursery.start(
        lambda task_status: serve_websocket_api(
            backend,
            host="127.0.0.1",
            port=0,
            token=TOKEN,
            max_message_bytes=64 * 1024,
            max_inflight=max_inflight,
            overload_wait_s=overload_wait_s,
            task_status=task_status,
        )
    )
    return f"ws://127.0.0.1:{server.port}"


async def send_then_read(ws: trio_websocket.WebSocketConnection, frame: dict[str, object]) -> str:
    await ws.send_message(json.dumps(frame))
    reply: str = await ws.get_message()  # type: ignore[assignment]
    return reply


async def hello(ws: trio_websocket.WebSocketConnection) -> dict[str, object]:
    await ws.send_message(
        json.dumps({"type": "hello", "id": 1, "protocol": PROTOCOL_VERSION, "token": TOKEN})
    )
    reply: dict[str, object] = json.loads(await ws.get_message())
    return reply


async def test_many_concurrent_calls_get_their_own_replies(nursery):
    backend = ToyBackend()
    url = await start(nursery, backend, max_inflight=64)
    with trio.fail_after(10):
        async with open_daemon_client(url, TOKEN) as client:
            results: dict[int, str] = {}

            async def one(i: int) -> None:
                reply = await client.call(m.Store(id=0, content=f"text {i}"))
                assert isinstance(reply, m.Stored)
                results[i] = reply.content_hash

            async with trio.open_nursery() as inner:
                for i in range(200):
                    inner.start_soon(one, i)
    assert results == {i: f"text {i}" for i in range(200)}


async def test_overload_answers_typed_error_while_pings_still_work(nursery):
    backend = ToyBackend()
    backend.gate = trio.Event()  # every request blocks until we open the gate
    url = await start(nursery, backend, max_inflight=2, overload_wait_s=0.5)
    with trio.fail_after(10):
        async with trio_websocket.open_websocket_url(url) as ws:
            assert (await hello(ws))["type"] == "welcome"
            # 2 run, 2 wait for a slot, the 5th finds the waiting room full
            for i in range(5):
                await ws.send_message(
                    json.dumps({"type": "store", "id": 10 + i, "content": f"c{i}"})
                )
            first = json.loads(await ws.get_message())
            assert (first["id"], first["code"]) == (14, "overloaded")
            with trio.fail_after(1):
                await ws.ping()  # the connection still answers pings while blocked
            late = [json.loads(await ws.get_message()) for _ in range(2)]
            assert sorted(r["id"] for r in late) == [12, 13]
            assert all(r["code"] == "overloaded" for r in late)
            backend.gate.set()
            done = [json.loads(await ws.get_message()) for _ in range(2)]
            assert sorted(r["id"] for r in done) == [10, 11]
            assert all(r["type"] == "stored" for r in done)


async def test_client_raises_overloaded(nursery):
    backend = ToyBackend()
    backend.gate = trio.Event()
    url = await start(nursery, backend, max_inflight=1, overload_wait_s=0.2)
    with trio.fail_after(10):
        async with open_daemon_client(url, TOKEN) as client:
            errors: list[BaseException] = []

            async def one(i: int) -> None:
                try:
                    await client.call(m.Store(id=0, content=f"x{i}"))
                except Overloaded as exc:
                    errors.append(exc)

            async with trio.open_nursery() as inner:
                for i in range(4):
                    inner.start_soon(one, i)
                await trio.sleep(0.05)
                backend.gate.set()  # the first finishes; the one waiting (0.2 s) gets its slot
            assert len(errors) == 2  # the other two found the waiting room full


async def test_oversized_frame_closes_only_that_connection(nursery):
    backend = ToyBackend()
    url = await start(nursery, backend)
    with trio.fail_after(10):
        async with trio_websocket.open_websocket_url(url, max_message_size=10**7) as ws:
            await hello(ws)
            with pytest.raises(trio_websocket.ConnectionClosed) as info:
                # the server may close before the last fragment is written, or just after
                await send_then_read(ws, {"type": "store", "id": 2, "content": "x" * 200_000})
            assert info.value.reason is not None
            assert info.value.reason.code == 1009
        async with open_daemon_client(url, TOKEN) as client:
            assert isinstance(await client.call(m.Store(id=0, content="small")), m.Stored)
    assert backend.stored == ["small"]


async def test_backend_crash_is_an_internal_error_and_server_survives(nursery):
    backend = ToyBackend()
    url = await start(nursery, backend)
    with trio.fail_after(10):
        async with trio_websocket.open_websocket_url(url) as ws:
            await hello(ws)
            await ws.send_message(json.dumps({"type": "store", "id": 3, "content": "boom"}))
            reply = json.loads(await ws.get_message())
            assert (reply["id"], reply["code"]) == (3, "internal")
            assert "backend bug" in reply["message"]
            await ws.send_message(json.dumps({"type": "store", "id": 4, "content": "fine"}))
            assert json.loads(await ws.get_message())["type"] == "stored"


async def test_request_before_hello_is_refused(nursery):
    url = await start(nursery, ToyBackend())
    with trio.fail_after(10):
        async with trio_websocket.open_websocket_url(url) as ws:
            await ws.send_message(json.dumps({"type": "store", "id": 1, "content": "x"}))
            reply = json.loads(await ws.get_message())
            assert (reply["code"], reply["message"]) == (
                "bad_request",
                "the first message must be a hello",
            )
            with pytest.raises(trio_websocket.ConnectionClosed):
                await ws.get_message()


async def test_protocol_mismatch(nursery):
    url = await start(nursery, ToyBackend())
    with trio.fail_after(10):
        async with trio_websocket.open_websocket_url(url) as ws:
            await ws.send_message(
                json.dumps({"type": "hello", "id": 1, "protocol": 999, "token": TOKEN})
            )
            reply = json.loads(await ws.get_message())
            assert reply["code"] == "protocol_mismatch"


async def test_foreign_browser_origin_is_rejected_own_origin_accepted(nursery):
    backend = ToyBackend()
    url = await start(nursery, backend)
    port = url.rsplit(":", 1)[1]
    with trio.fail_after(10):
        with pytest.raises(trio_websocket.ConnectionRejected) as info:
            async with trio_websocket.open_websocket_url(
                url, extra_headers=[(b"Origin", b"http://evil.example")]
            ):
                pass
        assert info.value.status_code == 403
        async with trio_websocket.open_websocket_url(
            url, extra_headers=[(b"Origin", f"http://127.0.0.1:{port}".encode())]
        ) as ws:
            assert (await hello(ws))["type"] == "welcome"


async def test_pending_calls_fail_promptly_when_the_server_goes_away():
    backend = ToyBackend()
    backend.gate = trio.Event()
    with trio.fail_after(10):
        async with trio.open_nursery() as server_nursery:
            url = await start(server_nursery, backend)
            async with open_daemon_client(url, TOKEN) as client:
                async with trio.open_nursery() as inner:
                    inner.start_soon(trio.sleep, 0.3)
                    await trio.sleep(0.1)
                    server_nursery.cancel_scope.cancel()  # the daemon dies mid-call
                    with pytest.raises(Unavailable):
                        await client.call(m.Store(id=0, content="never answered"))


async def test_events_and_shutdown_request(nursery):
    backend = ToyBackend()
    url = await start(nursery, backend)
    with trio.fail_after(10):
        async with open_daemon_client(url, TOKEN) as watcher, open_daemon_client(url, TOKEN) as app:
            events = await watcher.subscribe()
            await app.call(m.Store(id=0, content="seen"))
            event = await events.receive()
            assert (event.kind, event.content_hash) == ("stored", "seen")
            assert isinstance(await app.call(m.Shutdown(id=0)), m.Ok)
    assert backend.shutdown
    assert backend.opened == backend.closed == 2
