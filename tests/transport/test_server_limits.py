"""Limits that keep one rude client from holding the daemon's sockets or memory.

Every client here is a raw TCP stream (tests/transport/rawws.py) that misbehaves on purpose:
it ignores close frames, never reads, or trickles its hello.
"""

from __future__ import annotations

import attrs
import orjson
import pytest
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from memhub.transport import server as server_mod
from memhub.transport.server import CLOSE_TIMEOUT_S, HELLO_MAX_BYTES

from . import rawws
from .helpers import LIMIT, TOKEN, ask, hello, raw_session, start_server, url

#: A close must be over within CLOSE_TIMEOUT_S; the rest is scheduling slack on a loaded host.
GONE_WITHIN_S = CLOSE_TIMEOUT_S + 2.0


async def test_an_oversized_frame_before_hello_frees_the_socket_although_the_peer_ignores_the_close(
    server,
):
    stream = await rawws.connect(server.port)
    await stream.send_all(rawws.frame_header(LIMIT + 1) + b"x" * (LIMIT + 1))
    # trio-websocket alone stopped reading here and kept the socket open forever.
    assert await rawws.seconds_until_eof(stream, 3 * GONE_WITHIN_S) < GONE_WITHIN_S


async def test_an_oversized_frame_after_hello_frees_the_socket_although_the_peer_ignores_the_close(
    server,
):
    stream = await rawws.connect(server.port)
    await stream.send_all(rawws.hello_frame(TOKEN))
    _, payload = await rawws.read_frame(stream, bytearray())
    assert orjson.loads(payload)["type"] == "welcome"
    await stream.send_all(rawws.frame_header(LIMIT + 1) + b"x" * (LIMIT + 1))
    assert await rawws.seconds_until_eof(stream, 3 * GONE_WITHIN_S) < GONE_WITHIN_S


async def test_a_refused_hello_frees_the_socket_although_the_peer_ignores_the_close(server):
    stream = await rawws.connect(server.port)
    await stream.send_all(rawws.hello_frame("wrong token"))
    assert await rawws.seconds_until_eof(stream, 3 * GONE_WITHIN_S) < GONE_WITHIN_S


@pytest.mark.parametrize("how", ["silent", "trickling"])
async def test_the_hello_deadline_holds_for_a_silent_or_trickling_client(
    nursery, backend, monkeypatch, how
):
    monkeypatch.setattr(server_mod, "HANDSHAKE_TIMEOUT_S", 1.0)
    server = await start_server(nursery, backend)
    stream = await rawws.connect(server.port)
    if how == "trickling":

        async def trickle() -> None:
            # A frame that promises 200 bytes and delivers one every 0.2 s.
            await stream.send_all(rawws.frame_header(200))
            for _ in range(200):
                await stream.send_all(b" ")
                await trio.sleep(0.2)

        nursery.start_soon(trickle)
    waited = await rawws.seconds_until_eof(stream, 3 * GONE_WITHIN_S + 1.0)
    assert waited < 1.0 + GONE_WITHIN_S
    assert backend.opened == 0


async def test_connections_past_the_cap_are_refused_with_a_reason(nursery, backend):
    server = await start_server(nursery, backend, max_connections=2)
    with trio.fail_after(20):
        # Not saying hello: such a connection is capped apart (test_admission.py), not here.
        idle = await rawws.connect(server.port)
        async with raw_session(server) as first, raw_session(server) as second:
            async with open_websocket_url(url(server)) as third:
                reply = await ask(third, hello())
                assert reply["code"] == "overloaded"
                assert reply["id"] == 7
                assert "MEMHUB_MAX_CONNECTIONS" in reply["message"]
                with pytest.raises(ConnectionClosed) as closed:
                    await third.get_message()
                assert closed.value.reason is not None
                assert closed.value.reason.code == 1013
                assert "too many connections" in (closed.value.reason.reason or "")
            assert (await ask(first, {"type": "health", "id": 2}))["type"] == "ok"
            assert (await ask(second, {"type": "health", "id": 2}))["type"] == "ok"
        await backend.wait_closed(2)
        await trio.testing.wait_all_tasks_blocked(0.1)
        async with raw_session(server) as again:
            assert (await ask(again, {"type": "health", "id": 3}))["type"] == "ok"
        await idle.aclose()


async def test_a_client_that_never_reads_its_replies_is_dropped_and_others_are_served(
    nursery, backend
):
    server = await start_server(nursery, backend, send_timeout_s=1.0)
    big = "y" * (LIMIT // 2)
    async with raw_session(server) as ws:
        assert (await ask(ws, {"type": "store", "id": 1, "content": big}))["type"] == "stored"
    rude = await rawws.connect(server.port)
    await rude.send_all(rawws.hello_frame(TOKEN))
    get = rawws.frame(orjson.dumps({"type": "get", "id": 2, "content_hash": big}))

    async def flood() -> None:
        # Never reads: the daemon's replies pile up in the socket until it gives up on us.
        with trio.move_on_after(30):
            try:
                while True:
                    await rude.send_all(get)
            except trio.BrokenResourceError:
                pass

    nursery.start_soon(flood)
    with trio.fail_after(20):
        async with raw_session(server) as polite:
            for request_id in range(3, 13):
                reply = await ask(polite, {"type": "health", "id": request_id})
                assert reply["type"] == "ok"
                await trio.sleep(0.1)
        await backend.wait_closed(2)  # the rude client's connection, not only the polite one


async def test_a_subscription_ended_by_shutdown_is_not_called_too_slow(server, backend):
    with trio.fail_after(10):
        async with raw_session(server) as ws:
            await ask(ws, {"type": "subscribe", "id": 1})
            backend.end_subscriptions_for_shutdown()
            notice = orjson.loads(await ws.get_message())
            assert notice["type"] == "error"
            assert notice["id"] is None
            assert notice["code"] == "shutting_down"


async def test_before_hello_only_small_frames_are_accepted(server):
    # A process without the token cannot make the daemon buffer big frames.
    padded = {**hello(), "client": "p" * (HELLO_MAX_BYTES + 1)}
    with trio.fail_after(10):
        async with open_websocket_url(url(server), max_message_size=4 * LIMIT) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ask(ws, padded)
            assert closed.value.reason is not None
            assert closed.value.reason.code == 1009
        # After hello, the configured limit applies again.
        async with raw_session(server) as ws:
            big = {"type": "store", "id": 2, "content": "q" * (HELLO_MAX_BYTES + 1)}
            assert (await ask(ws, big))["type"] == "stored"


async def test_a_reply_with_unencodable_metadata_marks_that_memory_not_the_whole_reply(
    server, backend
):
    # A backend path that did not mark it (the readers do): the server still answers.
    from memhub.protocol import messages as m

    from .helpers import record

    deep: dict[str, object] = {}
    for _ in range(300):
        deep = {"k": deep}
    backend.memories["odd"] = attrs.evolve(record("odd"), metadata=deep)
    with trio.fail_after(10):
        async with raw_session(server) as ws:
            reply = await ask(ws, {"type": "get", "id": 4, "content_hash": "odd"})
            assert reply["type"] == "found"
            assert list(reply["memory"]["metadata"]) == ["memhub_unreadable_metadata"]
    assert isinstance(backend.memories["odd"], m.MemoryRecord)


async def test_big_read_requests_that_fill_the_budget_are_still_answered(server):
    # Two reads of nearly the message limit fill the connection's budget on their own; each
    # must still get its answer (a reply reservation taken later could wait forever).
    padded = "h" * (LIMIT - 200)
    with trio.fail_after(10):
        async with raw_session(server) as ws:
            for request_id in (1, 2, 3):
                frame = {"type": "get", "id": request_id, "content_hash": padded}
                await ws.send_message(orjson.dumps(frame).decode())
            replies = [orjson.loads(await ws.get_message()) for _ in range(3)]
            assert sorted(r["id"] for r in replies) == [1, 2, 3]
            assert {r["code"] for r in replies} == {"not_found"}
