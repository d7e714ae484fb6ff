"""DaemonClient against the real server and the toy backend, and against scripted servers."""

from __future__ import annotations

import contextlib
from functools import partial

import pytest
import trio
import wsproto
import wsproto.events
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket

from memhub import PROTOCOL_VERSION
from memhub.errors import (
    Duplicate,
    InternalError,
    NotFound,
    Overloaded,
    ProtocolMismatch,
    TooLarge,
    Unauthorized,
    Unavailable,
)
from memhub.protocol import messages as m
from memhub.protocol.codec import decode_client, encode
from memhub.transport.client import daemon_url, open_daemon_client
from memhub.transport.server import serve_websocket_api

from .helpers import IDENTITY, LIMIT, TOKEN, ToyBackend, start_server, url


def open_client(server, token=TOKEN, **kwargs):
    return open_daemon_client(
        url(server), token, client_name="test", max_message_bytes=LIMIT, **kwargs
    )


async def test_connects_and_exposes_the_welcome(server, backend):
    with trio.fail_after(10):
        async with open_client(server) as client:
            assert client.welcome.pid == IDENTITY.pid
            assert client.welcome.embedder == IDENTITY.embedder
            reply = await client.call(m.Store(id=0, content="hello"))
            assert isinstance(reply, m.Stored)
            assert reply.content_hash == "hello"
        assert client.closed
        await backend.wait_closed(1)


async def test_accepts_host_port_addresses(server):
    with trio.fail_after(10):
        async with open_daemon_client(f"127.0.0.1:{server.port}", TOKEN) as client:
            assert isinstance(await client.call(m.Health(id=0)), m.Ok)


def test_daemon_url_forms():
    assert daemon_url("ws://h:1/x") == "ws://h:1/x"
    assert daemon_url("localhost:8765") == "ws://localhost:8765"
    assert daemon_url("[::1]:8765") == "ws://[::1]:8765"
    with pytest.raises(ValueError, match="host:port"):
        daemon_url("localhost")


async def test_a_wrong_token_raises_unauthorized_unwrapped(server):
    with trio.fail_after(10), pytest.raises(Unauthorized, match="wrong token"):
        async with open_client(server, token="guess"):
            pytest.fail("must not get here")


async def test_nothing_listening_is_unavailable():
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    await listener.aclose()
    with trio.fail_after(10), pytest.raises(Unavailable, match="cannot connect"):
        async with open_daemon_client(f"127.0.0.1:{port}", TOKEN):
            pass


async def test_failed_replies_raise_the_matching_error(server):
    with trio.fail_after(10):
        async with open_client(server) as client:
            await client.call(m.Store(id=0, content="one"))
            with pytest.raises(Duplicate) as dup:
                await client.call(m.Store(id=0, content="one"))
            assert dup.value.detail == {"content_hash": "one"}
            with pytest.raises(NotFound):
                await client.call(m.Get(id=0, content_hash="two"))
            with pytest.raises(InternalError, match="toy backend bug"):
                await client.call(m.Store(id=0, content="boom"))
            assert isinstance(await client.call(m.Health(id=0)), m.Ok)


async def test_body_exceptions_come_out_unwrapped(server):
    with trio.fail_after(10), pytest.raises(KeyError):
        async with open_client(server):
            raise KeyError("mine")


async def test_an_oversized_request_is_refused_before_sending(server):
    with trio.fail_after(10):
        async with open_client(server) as client:
            with pytest.raises(TooLarge):
                await client.call(m.Store(id=0, content="x" * LIMIT))
            assert isinstance(await client.call(m.Health(id=0)), m.Ok)


async def test_many_concurrent_calls_get_their_own_replies(nursery, backend):
    server = await start_server(nursery, backend, max_inflight=64)
    backend.jitter = True  # replies come back out of order
    results: dict[str, str] = {}

    async def store(client, content):
        reply = await client.call(m.Store(id=0, content=content))
        assert isinstance(reply, m.Stored)
        results[content] = reply.content_hash

    with trio.fail_after(10):
        async with open_client(server) as client:
            async with trio.open_nursery() as callers:
                for i in range(300):
                    callers.start_soon(store, client, f"memory-{i}")
    assert len(results) == 300
    assert all(content == got for content, got in results.items())


async def test_overloaded_is_raised_past_the_inflight_limit(nursery, backend):
    server = await start_server(nursery, backend, max_inflight=1, overload_wait_s=0.2)
    backend.block()
    outcomes: list[str] = []

    async def store(client, content):
        try:
            await client.call(m.Store(id=0, content=content))
            outcomes.append("stored")
        except Overloaded:
            outcomes.append("overloaded")
            if outcomes.count("overloaded") == 3:
                backend.unblock()

    with trio.fail_after(10):
        async with open_client(server) as client, trio.open_nursery() as callers:
            for i in range(4):
                callers.start_soon(store, client, f"m{i}")
    assert sorted(outcomes) == ["overloaded"] * 3 + ["stored"]


async def test_pending_calls_fail_promptly_when_the_daemon_dies(nursery, backend):
    server_scope = trio.CancelScope()

    async def run_server(task_status=trio.TASK_STATUS_IGNORED):
        with server_scope:
            await serve_websocket_api(
                backend,
                welcome=IDENTITY,
                host="127.0.0.1",
                port=0,
                token=TOKEN,
                max_message_bytes=LIMIT,
                max_inflight=8,
                task_status=task_status,
            )

    server = await nursery.start(run_server)
    backend.block()
    failures: list[Exception] = []

    async def doomed(client):
        with pytest.raises(Unavailable, match="connection to memhub daemon lost") as lost:
            await client.call(m.Store(id=0, content="in flight"))
        failures.append(lost.value)

    with trio.fail_after(5):
        async with open_client(server) as client:
            async with trio.open_nursery() as callers:
                for _ in range(3):
                    callers.start_soon(doomed, client)
                await backend.wait_entered(3)
                server_scope.cancel()
            assert len(failures) == 3
            assert client.closed
            with pytest.raises(Unavailable):
                await client.call(m.Health(id=0))


async def test_subscribe_delivers_events_and_unsubscribe_ends_them(server):
    with trio.fail_after(10):
        async with open_client(server) as watcher, open_client(server) as writer:
            events = await watcher.subscribe()
            assert watcher.events() is events
            await writer.call(m.Store(id=0, content="first"))
            await writer.call(m.Store(id=0, content="second"))
            seen = [(await events.receive()).content_hash for _ in range(2)]
            assert seen == ["first", "second"]
            await watcher.unsubscribe()
            with pytest.raises(trio.EndOfChannel):
                await events.receive()


async def test_a_dropped_subscription_ends_the_channel_and_can_be_renewed(server, backend):
    with trio.fail_after(10):
        async with open_client(server) as watcher, open_client(server) as writer:
            events = await watcher.subscribe()
            backend.drop_subscribers()
            with pytest.raises(trio.EndOfChannel):
                await events.receive()
            renewed = await watcher.subscribe()
            await writer.call(m.Store(id=0, content="after"))
            assert (await renewed.receive()).content_hash == "after"


async def test_a_subscription_ended_by_daemon_shutdown_ends_the_channel(server, backend):
    with trio.fail_after(10):
        async with open_client(server) as watcher:
            events = await watcher.subscribe()
            backend.end_subscriptions_for_shutdown()
            with pytest.raises(trio.EndOfChannel):
                await events.receive()


async def scripted_daemon(request: WebSocketRequest, *, welcome_protocol: int) -> None:
    """A daemon that welcomes anyone and fails every request with a code from the future."""
    ws = await request.accept()
    hello = decode_client(await ws.get_message())
    fields = {
        f: getattr(IDENTITY, f)
        for f in ("server_version", "store", "engine", "machine", "pid", "schema")
    }
    welcome = m.Welcome(
        id=hello.id,
        protocol=welcome_protocol,
        embedder=IDENTITY.embedder,
        embedding_dim=IDENTITY.embedding_dim,
        **fields,
    )
    await ws.send_message(encode(welcome))
    with contextlib.suppress(ConnectionClosed):  # an escaped exception would stop the server
        while True:
            request_msg = decode_client(await ws.get_message())
            failed = m.Failed(id=request_msg.id, code="martian", message="from the future")
            await ws.send_message(encode(failed))


async def test_an_unknown_error_code_becomes_internal_error(nursery):
    handler = partial(scripted_daemon, welcome_protocol=PROTOCOL_VERSION)
    server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, None)
    with trio.fail_after(10):
        async with open_client(server) as client:
            with pytest.raises(InternalError, match="from the future"):
                await client.call(m.Health(id=0))


async def test_a_welcome_for_another_protocol_is_a_mismatch(nursery):
    handler = partial(scripted_daemon, welcome_protocol=PROTOCOL_VERSION + 1)
    server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, None)
    with trio.fail_after(10), pytest.raises(ProtocolMismatch):
        async with open_client(server):
            pass


async def wedged_daemon(stream: trio.SocketStream) -> None:
    """Completes the websocket upgrade, then ignores everything (even close frames)."""
    conn = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    while data := await stream.receive_some(4096):
        conn.receive_data(data)
        for event in conn.events():
            if isinstance(event, wsproto.events.Request):
                await stream.send_all(conn.send(wsproto.events.AcceptConnection()))
    await trio.sleep_forever()


async def test_a_daemon_that_never_answers_hello_is_unavailable(nursery):
    listeners = await nursery.start(partial(trio.serve_tcp, wedged_daemon, 0, host="127.0.0.1"))
    port = listeners[0].socket.getsockname()[1]
    with trio.fail_after(5), pytest.raises(Unavailable, match="no hello reply"):
        async with open_daemon_client(f"127.0.0.1:{port}", TOKEN, connect_timeout=0.3):
            pass


def test_toy_backend_satisfies_the_protocol():
    from memhub.transport.backend import Backend

    backend: Backend = ToyBackend()
    assert backend is not None
