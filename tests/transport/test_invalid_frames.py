"""Frames wsproto cannot accept fail the connection with the close code RFC 6455 names.

trio-websocket turned wsproto's verdict into a bare TCP close; RFC 6455 7.1.7 asks for a close
frame with the code first: 1007 for a text message that is not UTF-8 (8.1), 1002 for a protocol
error. A raw socket (tests/transport/rawws.py) sends what no websocket library would (hardening
item 4).
"""

from __future__ import annotations

import struct

import orjson
import pytest
import trio

from . import rawws
from .helpers import TOKEN


async def welcomed(port: int) -> tuple[trio.SocketStream, bytearray]:
    stream = await rawws.connect(port)
    await stream.send_all(rawws.hello_frame(TOKEN))
    buffer = bytearray()
    _, payload = await rawws.read_frame(stream, buffer)
    assert orjson.loads(payload)["type"] == "welcome"
    return stream, buffer


async def close_code(stream: trio.SocketStream, buffer: bytearray) -> tuple[int, str]:
    """The code and reason of the close frame the daemon sends next (skipping other frames)."""
    while True:
        opcode, payload = await rawws.read_frame(stream, buffer)
        if opcode == rawws.OP_CLOSE:
            (code,) = struct.unpack("!H", payload[:2])
            return code, payload[2:].decode()


BAD_UTF8 = b'{"type": "health", "id": 1, "x": "\xff\xfe"}'


@pytest.mark.parametrize(
    "frames",
    [
        pytest.param([rawws.frame(BAD_UTF8)], id="one-frame"),
        pytest.param(
            [rawws.frame(b'{"x": "\xc3', fin=False), rawws.frame(b'\x28"}', rawws.OP_CONTINUATION)],
            id="split-sequence-that-is-not-utf8",
        ),
    ],
)
async def test_a_text_message_that_is_not_utf8_is_closed_with_1007(server, frames):
    with trio.fail_after(10):
        stream, buffer = await welcomed(server.port)
        for data in frames:
            await stream.send_all(data)
        code, _ = await close_code(stream, buffer)
        assert code == 1007
        assert await rawws.seconds_until_eof(stream, 5) < 3


async def test_a_hello_that_is_not_utf8_is_closed_with_1007(server):
    with trio.fail_after(10):
        stream = await rawws.connect(server.port)
        await stream.send_all(rawws.frame(b'{"type": "hello", "token": "\xff"}'))
        code, _ = await close_code(stream, bytearray())
        assert code == 1007


async def test_a_utf8_sequence_split_across_frames_is_one_valid_message(server):
    with trio.fail_after(10):
        stream, buffer = await welcomed(server.port)
        text = '{"type": "health", "id": 4, "pad": "é"}'.encode()
        cut = text.index("é".encode()) + 1  # inside the two-byte sequence
        await stream.send_all(rawws.frame(text[:cut], fin=False))
        await stream.send_all(rawws.frame(text[cut:], rawws.OP_CONTINUATION))
        _, payload = await rawws.read_frame(stream, buffer)
        assert orjson.loads(payload)["id"] == 4  # decoded whole: a bad_request for the field


async def test_a_protocol_error_is_closed_with_1002(server):
    with trio.fail_after(10):
        stream, buffer = await welcomed(server.port)
        await stream.send_all(b"\x81\x02hi")  # unmasked: clients must mask every frame
        code, _ = await close_code(stream, buffer)
        assert code == 1002
