"""The websocket server against the toy backend, spoken to with raw frames on real sockets."""

from __future__ import annotations

import orjson
import pytest
import trio
import trio.testing
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

from memhub import PROTOCOL_VERSION

from .helpers import (
    IDENTITY,
    LIMIT,
    ToyBackend,
    ask,
    hello,
    raw_session,
    start_server,
    url,
)


async def test_hello_is_welcomed_with_the_backend_identity(server, backend):
    with trio.fail_after(10):
        async with open_websocket_url(url(server)) as ws:
            welcome = await ask(ws, hello())
            assert welcome == {
                "type": "welcome",
                "id": 7,
                "protocol": IDENTITY.protocol,
                "server_version": IDENTITY.server_version,
                "store": IDENTITY.store,
                "engine": IDENTITY.engine,
                "machine": IDENTITY.machine,
                "pid": IDENTITY.pid,
                "schema": IDENTITY.schema,
                "embedder": IDENTITY.embedder,
                "embedding_dim": IDENTITY.embedding_dim,
                "session_token": None,  # only set when a browser ticket was redeemed
            }
            assert backend.opened == 1
        await backend.wait_closed(1)


@pytest.mark.parametrize(
    ("frame", "code", "close_code"),
    [
        pytest.param(hello(token="wrong"), "unauthorized", 4401, id="bad-token"),
        pytest.param(hello(protocol=PROTOCOL_VERSION + 1), "protocol_mismatch", 1008, id="proto"),
        pytest.param(
            hello(protocol=PROTOCOL_VERSION + 1, features=["x"]),
            "protocol_mismatch",
            1008,
            id="newer-hello-shape",
        ),
        pytest.param(
            hello(features=["x"]), "protocol_mismatch", 1008, id="same-protocol-newer-fields"
        ),
        pytest.param(hello(protocol="2.0"), "protocol_mismatch", 1008, id="protocol-as-text"),
        pytest.param({"type": "health", "id": 7}, "bad_request", 1008, id="request-first"),
        pytest.param({"type": "hello", "id": 7}, "bad_request", 1008, id="incomplete-hello"),
    ],
)
async def test_a_bad_hello_is_refused_and_closed(server, backend, frame, code, close_code):
    with trio.fail_after(10):
        async with open_websocket_url(url(server)) as ws:
            reply = await ask(ws, frame)
            assert reply["type"] == "error"
            assert reply["code"] == code
            assert reply["id"] == 7
            with pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
            assert closed.value.reason is not None
            assert closed.value.reason.code == close_code
    assert backend.opened == 0


@pytest.mark.parametrize(
    ("frame", "echoed_id"),
    [
        pytest.param("{not json", None, id="malformed-json"),
        pytest.param("[1, 2]", None, id="not-an-object"),
        pytest.param({"type": "teleport", "id": 11}, 11, id="unknown-type"),
        pytest.param({"type": "get", "id": 12, "content_hash": 5}, 12, id="wrong-field-type"),
        pytest.param({"type": "store", "id": 13, "content": "x", "colour": 1}, 13, id="unknown"),
        pytest.param({"type": "store", "id": 14}, 14, id="missing-field"),
        pytest.param({"type": "store", "id": "15", "content": "x"}, None, id="string-id"),
        pytest.param(hello(), 7, id="second-hello"),
    ],
)
async def test_a_bad_frame_gets_bad_request_and_the_connection_stays_usable(
    server, frame, echoed_id
):
    with trio.fail_after(10):
        async with raw_session(server) as ws:
            reply = await ask(ws, frame)
            assert reply["type"] == "error"
            assert reply["code"] == "bad_request"
            assert reply["id"] == echoed_id
            assert reply["message"]
            stored = await ask(ws, {"type": "store", "id": 99, "content": "still here"})
            assert stored["type"] == "stored"
            assert stored["id"] == 99


async def test_an_oversized_frame_closes_only_that_connection(server):
    with trio.fail_after(10):
        async with raw_session(server) as other:
            async with raw_session(server) as ws:
                big = {"type": "store", "id": 1, "content": "x" * LIMIT}
                with pytest.raises(ConnectionClosed) as closed:
                    await ask(ws, big)  # refused on send or on the read after it
                assert closed.value.reason is not None
                assert closed.value.reason.code == 1009
            reply = await ask(other, {"type": "store", "id": 2, "content": "small"})
            assert reply["type"] == "stored"
        async with raw_session(server) as fresh:
            assert (await ask(fresh, {"type": "health", "id": 3}))["type"] == "ok"


async def test_a_reply_over_the_limit_becomes_too_large(server):
    with trio.fail_after(10):
        async with raw_session(server) as ws:
            reply = await ask(ws, {"type": "get", "id": 5, "content_hash": "huge"})
            assert reply["code"] == "too_large"
            assert reply["id"] == 5
            assert (await ask(ws, {"type": "health", "id": 6}))["type"] == "ok"


async def test_service_errors_become_typed_failures(server):
    with trio.fail_after(10):
        async with raw_session(server) as ws:
            await ask(ws, {"type": "store", "id": 1, "content": "once"})
            dup = await ask(ws, {"type": "store", "id": 2, "content": "once"})
            assert dup == {
                "type": "error",
                "id": 2,
                "code": "duplicate",
                "message": "exact duplicate",
                "detail": {"content_hash": "once"},
            }
            missing = await ask(ws, {"type": "get", "id": 3, "content_hash": "nope"})
            assert missing["code"] == "not_found"


async def test_a_backend_bug_is_an_internal_error_and_the_server_survives(server, caplog):
    with trio.fail_after(10):
        async with raw_session(server) as ws:
            reply = await ask(ws, {"type": "store", "id": 1, "content": "boom"})
            assert reply["code"] == "internal"
            assert reply["id"] == 1
            assert "toy backend bug" in reply["message"]
            assert (await ask(ws, {"type": "store", "id": 2, "content": "ok"}))["type"] == "stored"
        async with raw_session(server) as fresh:
            assert (await ask(fresh, {"type": "health", "id": 3}))["type"] == "ok"
    assert "Store request failed" in caplog.text


async def test_overload_waits_then_refuses_while_pings_are_answered(nursery, backend):
    server = await start_server(nursery, backend, max_inflight=2, overload_wait_s=0.5)
    backend.block()
    with trio.fail_after(10):
        async with raw_session(server) as ws:
            sent_at = trio.current_time()
            for request_id in range(1, 7):
                frame = {"type": "store", "id": request_id, "content": f"m{request_id}"}
                await ws.send_message(orjson.dumps(frame).decode())
            await backend.wait_entered(2)
            with trio.fail_after(0.3):  # well inside overload_wait_s: nothing is stuck
                await ws.ping()
            refused = [orjson.loads(await ws.get_message()) for _ in range(4)]
            assert trio.current_time() - sent_at >= 0.45
            assert {r["code"] for r in refused} == {"overloaded"}
            with trio.fail_after(1):
                await ws.ping()
            assert backend.entered == 2
            backend.unblock()
            served = [orjson.loads(await ws.get_message()) for _ in range(2)]
            assert {r["type"] for r in served} == {"stored"}
            assert {r["id"] for r in refused + served} == set(range(1, 7))


async def test_a_client_leaving_mid_request_harms_nobody(server, backend):
    backend.block()
    with trio.fail_after(10):
        async with raw_session(server) as ws:
            await ws.send_message('{"type": "store", "id": 1, "content": "abandoned"}')
            await backend.wait_entered(1)
        await backend.wait_closed(1)
        backend.unblock()
        async with raw_session(server) as fresh:
            assert (await ask(fresh, {"type": "health", "id": 2}))["type"] == "ok"


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1"])
async def test_a_foreign_browser_origin_is_rejected(server, origin):
    with trio.fail_after(10):
        with pytest.raises(ConnectionRejected) as rejected:
            async with open_websocket_url(
                url(server), extra_headers=[(b"Origin", origin.encode())]
            ):
                pass
        assert rejected.value.status_code == 403


async def test_own_and_allowed_origins_are_accepted(nursery, backend):
    server = await start_server(nursery, backend, allowed_origins=("http://app.example",))
    for origin in (
        f"http://127.0.0.1:{server.port}",
        f"http://localhost:{server.port}",
        "http://app.example",
    ):
        with trio.fail_after(10):
            async with raw_session(server, origin=origin) as ws:
                assert (await ask(ws, {"type": "health", "id": 1}))["type"] == "ok"


async def test_subscribers_get_events_until_they_unsubscribe(server, backend):
    with trio.fail_after(10):
        async with raw_session(server) as watcher, raw_session(server) as writer:
            assert await ask(watcher, {"type": "subscribe", "id": 1}) == {"type": "ok", "id": 1}
            assert backend.subscribers == 1
            await ask(writer, {"type": "store", "id": 2, "content": "news"})
            event = orjson.loads(await watcher.get_message())
            assert event == {
                "type": "event",
                "kind": "stored",
                "content_hash": "news",
                "memory": None,
                "client": "",  # the toy backend does not name writers
                "origin": "",
                "store": "default",
            }
            assert await ask(watcher, {"type": "unsubscribe", "id": 3}) == {"type": "ok", "id": 3}
            await trio.testing.wait_all_tasks_blocked()
            assert backend.subscribers == 0


async def test_a_dropped_subscriber_is_told_it_was_too_slow(server, backend):
    with trio.fail_after(10):
        async with raw_session(server) as ws:
            await ask(ws, {"type": "subscribe", "id": 1})
            backend.drop_subscribers()
            notice = orjson.loads(await ws.get_message())
            assert notice["type"] == "error"
            assert notice["id"] is None
            assert notice["code"] == "overloaded"
            assert await ask(ws, {"type": "subscribe", "id": 2}) == {"type": "ok", "id": 2}


async def test_a_refused_subscription_is_a_typed_failure(server, backend):
    backend.refuse_subscriptions = True
    with trio.fail_after(10):
        async with raw_session(server) as ws:
            reply = await ask(ws, {"type": "subscribe", "id": 1})
            assert reply["code"] == "shutting_down"
            backend.refuse_subscriptions = False
            assert await ask(ws, {"type": "subscribe", "id": 2}) == {"type": "ok", "id": 2}


async def test_shutdown_replies_ok_then_asks_the_backend_to_stop(server, backend):
    with trio.fail_after(10):
        async with raw_session(server) as ws:
            assert await ask(ws, {"type": "shutdown", "id": 4}) == {"type": "ok", "id": 4}
    assert backend.shutdown_requested


async def test_rejects_nonsense_limits(nursery):
    with pytest.raises(ValueError, match="max_inflight"):
        await start_server(nursery, ToyBackend(), max_inflight=0)
