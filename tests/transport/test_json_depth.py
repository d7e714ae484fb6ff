"""Frames nesting deeper than any parser should recurse are refused before parsing, by name.

Against the toy backend on a real socket (hardening item 1): the refusal names the limit and the
request (its id is read from the frame's outline), and the connection serves on.
"""

from __future__ import annotations

import orjson
import pytest
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from .helpers import ask, hello, raw_session, url


def nest(levels: int) -> str:
    return "[" * levels + "]" * levels


def store_with_metadata(request_id: int, metadata: str) -> str:
    return '{"type": "store", "content": "x", "metadata": ' + metadata + f', "id": {request_id}}}'


@pytest.mark.parametrize(
    ("frame", "request_id"),
    [
        pytest.param(store_with_metadata(5, '{"m": ' + nest(2000) + "}"), 5, id="metadata-2000"),
        pytest.param(store_with_metadata(6, '{"m": ' + nest(130) + "}"), 6, id="just-past"),
        pytest.param(nest(100_000), None, id="bare-array"),
    ],
)
async def test_a_frame_nested_too_deep_is_refused_by_name_and_the_connection_serves_on(
    server, frame, request_id
):
    with trio.fail_after(10):
        async with raw_session(server) as ws:
            reply = await ask(ws, frame)
            assert reply["type"] == "error"
            assert reply["code"] == "bad_request"
            assert reply["id"] == request_id
            assert "nests deeper than 128 levels" in reply["message"]
            after = await ask(ws, {"type": "health", "id": 8})
            assert after == {"type": "ok", "id": 8}


async def test_metadata_within_the_frame_limit_gets_the_metadata_limit(server):
    with trio.fail_after(10):
        async with raw_session(server) as ws:
            reply = await ask(ws, store_with_metadata(5, '{"m": ' + nest(100) + "}"))
            assert reply["id"] == 5
            assert "nests deeper than 64 levels" in reply["message"]


async def test_a_hello_nested_too_deep_is_refused_and_closed(server):
    with trio.fail_after(10):
        async with open_websocket_url(url(server)) as ws:
            frame = orjson.dumps(hello()).decode()[:-1] + ', "x": ' + nest(3000) + "}"
            reply = await ask(ws, frame)
            assert reply["code"] == "bad_request"
            assert reply["id"] == 7
            assert "nests deeper than 128 levels" in reply["message"]
            with pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
            assert closed.value.reason is not None
            assert closed.value.reason.code == 1008
