"""A deliberately rude websocket client on a plain TCP stream.

It speaks just enough RFC 6455 to misbehave precisely: it never answers a close, never reads
unless asked, and can send frame headers that promise more bytes than it will ever send.
"""

from __future__ import annotations

import os
import struct
from typing import Final

import orjson
import trio

from memhub import PROTOCOL_VERSION

OP_CONTINUATION: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9


def upgrade_request(port: int) -> bytes:
    """The opening handshake, with the ``Host`` the daemon checks (DNS rebinding)."""
    return (
        b"GET / HTTP/1.1\r\n"
        b"Host: 127.0.0.1:%d\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    ) % port


def frame_header(length: int, opcode: int = OP_TEXT, *, fin: bool = True) -> bytes:
    """A masked client frame header (mask key all zero, so the payload goes out as is)."""
    first = (0x80 if fin else 0) | opcode
    if length < 126:
        head = struct.pack("!BB", first, 0x80 | length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, length)
    return head + b"\0\0\0\0"


def frame(payload: bytes | str, opcode: int = OP_TEXT, *, fin: bool = True) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return frame_header(len(data), opcode, fin=fin) + data


def hello_frame(token: str) -> bytes:
    hello = {"type": "hello", "id": 1, "protocol": PROTOCOL_VERSION, "token": token}
    return frame(orjson.dumps(hello))


async def connect(port: int) -> trio.SocketStream:
    """A TCP stream that has completed the websocket upgrade (nothing more)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(upgrade_request(port))
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = await stream.receive_some(4096)
        if not chunk:
            raise ConnectionError(f"closed during the upgrade: {response!r}")
        response += chunk
    if not response.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(f"upgrade refused: {response!r}")
    return stream


async def read_frame(stream: trio.SocketStream, buffer: bytearray) -> tuple[int, bytes]:
    """One unmasked server frame: (opcode, payload)."""

    async def need(count: int) -> None:
        while len(buffer) < count:
            chunk = await stream.receive_some(65536)
            if not chunk:
                raise EOFError("the server closed the connection")
            buffer.extend(chunk)

    await need(2)
    opcode, length = buffer[0] & 0x0F, buffer[1] & 0x7F
    offset = 2
    if length == 126:
        await need(4)
        (length,) = struct.unpack("!H", buffer[2:4])
        offset = 4
    elif length == 127:
        await need(10)
        (length,) = struct.unpack("!Q", buffer[2:10])
        offset = 10
    await need(offset + length)
    payload = bytes(buffer[offset : offset + length])
    del buffer[: offset + length]
    return opcode, payload


async def seconds_until_eof(stream: trio.SocketStream, limit_s: float) -> float:
    """Read (and ignore, close frames included) until the server's FIN or reset."""
    started = trio.current_time()
    with trio.fail_after(limit_s):
        while True:
            try:
                chunk = await stream.receive_some(65536)
            except trio.BrokenResourceError:
                break  # a reset is the socket going away too
            if not chunk:
                break
    return trio.current_time() - started


def random_bytes(count: int) -> bytes:
    return os.urandom(count)
