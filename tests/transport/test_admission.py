"""Connections that have not authenticated: they cost nothing while they wait, they are capped
apart from authenticated ones, and the one that waited longest makes way (hardening item 3).

Real sockets against the toy backend; the clients are raw TCP streams that stop mid-head.
"""

from __future__ import annotations

import orjson
import pytest
import trio
import trio.lowlevel
from trio_websocket import ConnectionClosed, open_websocket_url

from . import rawws
from .helpers import ask, hello, raw_session, start_server, url


def partial_head(port: int) -> bytes:
    """A request head without its closing blank line: the daemon must wait for the rest."""
    return b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n" % port


async def hold_partial_head(port: int) -> trio.SocketStream:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(partial_head(port))
    return stream


async def read_until_eof(stream: trio.SocketStream) -> bytes:
    received = b""
    while chunk := await stream.receive_some(65536):
        received += chunk
    return received


class StepCounter(trio.abc.Instrument):
    """Counts how often any task of this run is stepped: a task that polls is stepped often."""

    def __init__(self) -> None:
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps += 1


async def test_waiting_heads_cost_no_wakeups(server):
    with trio.fail_after(20):
        held = [await hold_partial_head(server.port) for _ in range(50)]
        # Not wait_all_tasks_blocked: tasks that poll are never all blocked, until the heads
        # time out (10 s) and there is nothing left to see.
        await trio.sleep(0.3)
        counter = StepCounter()
        trio.lowlevel.add_instrument(counter)
        try:
            await trio.sleep(1.0)
        finally:
            trio.lowlevel.remove_instrument(counter)
        # Peeking and re-checking every 10 ms stepped each of the 50 tasks ~100 times here.
        assert counter.steps < 20, counter.steps
        for stream in held:
            await stream.aclose()


async def test_the_oldest_waiting_connection_makes_way_and_is_told_why(nursery, backend):
    server = await start_server(nursery, backend, max_pending=3)
    with trio.fail_after(20):
        oldest, second, third = [await hold_partial_head(server.port) for _ in range(3)]
        fourth = await hold_partial_head(server.port)
        answer = await read_until_eof(oldest)
        assert answer.startswith(b"HTTP/1.1 503 ")
        assert b"too many connections are waiting to authenticate (limit 3)" in answer
        # The others still wait; a client that authenticates gets in (evicting `second`).
        async with raw_session(server) as ws:
            assert (await ask(ws, {"type": "health", "id": 1}))["type"] == "ok"
            assert (await read_until_eof(second)).startswith(b"HTTP/1.1 503 ")
        for stream in (third, fourth):
            await stream.aclose()


async def test_a_websocket_waiting_for_hello_is_evicted_with_1013(nursery, backend):
    server = await start_server(nursery, backend, max_pending=2)
    with trio.fail_after(20):
        async with open_websocket_url(url(server)) as silent:
            await trio.testing.wait_all_tasks_blocked(0.05)
            others = [await hold_partial_head(server.port) for _ in range(2)]
            with pytest.raises(ConnectionClosed) as closed:
                await silent.get_message()
            assert closed.value.reason is not None
            assert closed.value.reason.code == 1013
            assert "waiting for hello" in (closed.value.reason.reason or "")
        for stream in others:
            await stream.aclose()


async def test_a_flood_of_waiting_heads_never_touches_authenticated_clients(nursery, backend):
    server = await start_server(nursery, backend, max_pending=4, max_connections=3)
    with trio.fail_after(30):
        async with raw_session(server) as first, raw_session(server) as second:
            flood = [await hold_partial_head(server.port) for _ in range(40)]
            for i, ws in enumerate((first, second, first, second)):
                assert (await ask(ws, {"type": "health", "id": i}))["type"] == "ok"
            # ...and a new client still gets through the flood to its (authenticated) place.
            async with raw_session(server) as newcomer:
                reply = await ask(newcomer, {"type": "health", "id": 9})
                assert reply == {"type": "ok", "id": 9}
            for stream in flood:
                await stream.aclose()


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"], ids=["lf", "crlf"])
async def test_a_head_is_answered_at_once_whatever_its_line_endings(server, ending):
    with trio.fail_after(5):  # a bare-LF head used to wait for HEAD_TIMEOUT_S (10 s)
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        lines = [b"GET / HTTP/1.1", b"Host: 127.0.0.1:%d" % server.port, b"", b""]
        await stream.send_all(ending.join(lines))
        answer = await read_until_eof(stream)
        assert answer.startswith(b"HTTP/1.1 200 ")


async def test_a_websocket_upgrade_with_bare_lf_line_endings_is_served(server):
    with trio.fail_after(5):
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        upgrade = rawws.upgrade_request(server.port).replace(b"\r\n", b"\n")
        await stream.send_all(upgrade)
        received = b""
        while b"\r\n\r\n" not in received:
            received += await stream.receive_some(4096)
        assert received.startswith(b"HTTP/1.1 101 ")
        await stream.send_all(rawws.hello_frame("test-token"))
        buffer = bytearray(received.split(b"\r\n\r\n", 1)[1])
        _, payload = await rawws.read_frame(stream, buffer)
        assert orjson.loads(payload)["type"] == "welcome"
        await stream.aclose()


async def test_a_head_split_anywhere_is_read_whole(server):
    head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % server.port
    for cut in range(1, len(head)):
        with trio.fail_after(5):
            stream = await trio.open_tcp_stream("127.0.0.1", server.port)
            await stream.send_all(head[:cut])
            await trio.testing.wait_all_tasks_blocked(0.01)
            await stream.send_all(head[cut:])
            assert (await read_until_eof(stream)).startswith(b"HTTP/1.1 200 "), cut


async def test_hello_still_has_its_own_deadline_and_origin_check(server):
    with trio.fail_after(10):
        async with open_websocket_url(url(server)) as ws:
            assert (await ask(ws, hello()))["type"] == "welcome"
