"""Fuzzing a real daemon with raw websocket frames: a typed answer or a close, never a crash.

One ``memhub serve`` process (hash embedder) serves every example. Each example opens a raw TCP
connection, says hello, and sends either random bytes or a mutated valid frame. Every complete
text frame must be answered by one well-formed daemon message (a result or a typed error) or
the connection must close; in the end the daemon is alive and serves a fresh client at once.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memhub.discovery import RuntimeInfo
from memhub.protocol.codec import decode_server
from tests.daemon.helpers import running_daemon
from tests.transport import rawws

FUZZ = settings(
    max_examples=150,
    deadline=5000,  # ms per example: one round trip to the daemon on a loaded host
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)
ANSWER_WITHIN_S = 5.0


@pytest.fixture(scope="module")
def daemon(tmp_path_factory) -> Iterator[tuple[Any, RuntimeInfo]]:
    db = tmp_path_factory.mktemp("fuzz") / "m.db"
    with running_daemon(db) as (proc, info):
        yield proc, info


class RawSocket:
    """A blocking raw websocket client (the daemon's replies are unmasked frames)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=ANSWER_WITHIN_S)
        self.buffer = bytearray()
        self.sock.sendall(rawws.upgrade_request(port))
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, rest = bytes(self.buffer).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        self.buffer = bytearray(rest)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError
        self.buffer.extend(chunk)

    def _need(self, count: int) -> None:
        while len(self.buffer) < count:
            self._fill()

    def read_frame(self) -> tuple[int, bytes]:
        self._need(2)
        opcode, length, offset = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F, 2
        if length == 126:
            self._need(4)
            (length,) = struct.unpack("!H", self.buffer[2:4])
            offset = 4
        elif length == 127:
            self._need(10)
            (length,) = struct.unpack("!Q", self.buffer[2:10])
            offset = 10
        self._need(offset + length)
        payload = bytes(self.buffer[offset : offset + length])
        del self.buffer[: offset + length]
        return opcode, payload

    def close(self) -> None:
        self.sock.close()


def session(info: RuntimeInfo) -> RawSocket:
    raw = RawSocket(info.port)
    raw.sock.sendall(rawws.hello_frame(info.token))
    opcode, payload = raw.read_frame()
    assert opcode == rawws.OP_TEXT
    assert orjson.loads(payload)["type"] == "welcome"
    return raw


def answered_or_closed(raw: RawSocket) -> None:
    """The next thing from the daemon is a well-formed message, a close frame, or EOF."""
    try:
        opcode, payload = raw.read_frame()
    except (EOFError, ConnectionResetError):
        return
    if opcode == rawws.OP_CLOSE:
        return
    assert opcode == rawws.OP_TEXT
    decode_server(payload)  # raises if the daemon ever sent something malformed


valid_frames = st.sampled_from(
    [
        {"type": "health", "id": 3},
        {"type": "store", "id": 4, "content": "fuzzed memory", "tags": ["a"]},
        {"type": "search", "id": 5, "query": "fuzz", "mode": "hybrid", "limit": 3},
        {"type": "list", "id": 6, "page": 1, "page_size": 5},
        {"type": "get", "id": 7, "content_hash": "0" * 64},
        {"type": "update", "id": 8, "content_hash": "0" * 64, "metadata": {"a": [1, {"b": 2}]}},
        {"type": "delete", "id": 9, "tags": ["zzz"], "dry_run": True},
    ]
).map(lambda obj: orjson.dumps(obj))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    frame = draw(valid_frames)
    position = draw(st.integers(0, len(frame)))
    cut = draw(st.integers(0, 6))
    insert = draw(st.binary(max_size=6))
    return frame[:position] + insert + frame[position + cut :]


@FUZZ
@given(payload=mutated(), binary=st.booleans())
def test_a_mutated_frame_gets_a_typed_answer_or_a_close(daemon, payload, binary):
    _, info = daemon
    raw = session(info)
    try:
        raw.sock.sendall(rawws.frame(payload, rawws.OP_BINARY if binary else rawws.OP_TEXT))
        answered_or_closed(raw)
    finally:
        raw.close()


@FUZZ
@given(junk=st.binary(min_size=1, max_size=200), after_hello=st.booleans())
def test_random_bytes_never_crash_the_daemon(daemon, junk, after_hello):
    _, info = daemon
    raw = session(info) if after_hello else RawSocket(info.port)
    try:
        raw.sock.sendall(junk)
        raw.sock.settimeout(0.05)  # junk may leave a frame half sent: nothing is owed then
        with contextlib.suppress(TimeoutError):
            answered_or_closed(raw)
    finally:
        raw.close()


def test_the_daemon_survived_the_fuzzing_and_serves_at_once(daemon):
    proc, info = daemon
    assert proc.poll() is None
    raw = session(info)
    try:
        raw.sock.sendall(rawws.frame(orjson.dumps({"type": "health", "id": 1})))
        opcode, payload = raw.read_frame()
        assert opcode == rawws.OP_TEXT
        assert orjson.loads(payload)["type"] == "health_report"
    finally:
        raw.close()
