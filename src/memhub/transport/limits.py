"""Per-connection memory and teardown: what keeps one client from pinning the daemon's memory or
its file descriptors.

* :class:`ByteBudget` bounds the bytes one connection holds at once: request frames waiting to
  be served and replies waiting to be sent. When it is spent the read loop stops reading, so
  TCP pushes back on the client instead of the daemon buffering for it.
* :func:`close_promptly` ends a connection within a bounded time whatever the peer does:
  trio-websocket 0.12 stops reading after it refused an oversized message but never closes the
  socket, and a close handshake the peer ignores would otherwise wait forever.
* :func:`fail_with_close_frames` makes a connection that wsproto fails (a text message that is
  not UTF-8, a protocol error) end with the close frame RFC 6455 asks for; trio-websocket 0.12
  closed the TCP connection without one.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Final

import attrs
import trio
import trio.lowlevel
from trio_websocket import WebSocketConnection
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection

from memhub.transport.replay import ReplayStream

log = logging.getLogger(__name__)

#: Bytes read and discarded while waiting for the peer's FIN, after our close frame.
_DRAIN_CHUNK: Final = 65536
_MAX_CLOSE_REASON: Final = 123


class ByteBudget:
    """A counter of bytes held by one connection, with waiting for room.

    ``acquire`` waits while the budget is spent, except that a connection holding nothing may
    always take one item (a single frame up to the message limit must always be servable).
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the budget must be positive")
        self.limit = limit
        self.used = 0
        self._room = trio.lowlevel.ParkingLot()

    async def acquire(self, size: int) -> None:
        while self.used and self.used + size > self.limit:
            await self._room.park()
        self.used += size

    def charge(self, size: int) -> None:
        """Count bytes that already exist (a reply just encoded): never waits."""
        self.used += size

    def release(self, size: int) -> None:
        self.used -= size
        self._room.unpark_all()


@attrs.define
class Census:
    """Open connections (from the websocket handshake on) against the configured cap."""

    limit: int
    open: int = 0

    def try_enter(self) -> bool:
        if self.open >= self.limit:
            return False
        self.open += 1
        return True

    def leave(self) -> None:
        self.open -= 1


async def close_promptly(
    ws: WebSocketConnection, code: int, reason: str | None, timeout_s: float
) -> None:
    """Close handshake, then TCP close, all within ``timeout_s``; then the socket is gone.

    After our close frame the peer's remaining bytes are read and dropped until its FIN (so a
    well-behaved peer sees our close code, not a reset), but never longer than ``timeout_s``.
    """
    try:
        with trio.move_on_after(timeout_s):
            await ws.aclose(code, reason)
            await _drain_until_eof(ws)
    finally:
        await drop_tcp(ws)  # also when cancelled: closing the socket needs no waiting


def set_message_limit(ws: WebSocketConnection, limit: int) -> None:
    """Change the largest message ``ws`` accepts from now on (bigger ones close it with 1009).

    trio-websocket fixes the limit per server; a connection that has not said hello yet gets a
    small one, so a process without the token cannot make the daemon buffer big frames.
    """
    ws._max_message_size = limit


async def drop_tcp(ws: WebSocketConnection) -> None:
    """Close the TCP connection now, whatever state the websocket is in (idempotent)."""
    # trio-websocket has no public way to do this (nor to change the message limit, above, nor
    # to see wsproto's state, below): these are the private details used, checked by
    # tests/transport/test_server_limits.py and test_invalid_frames.py.
    stream: trio.abc.Stream = ws._stream
    await trio.aclose_forcefully(stream)


def fail_with_close_frames(ws: WebSocketConnection) -> None:
    """Send the close frame wsproto's verdict calls for when trio-websocket closes the socket.

    When wsproto cannot parse what the peer sent (RFC 6455 8.1: a text message that is not
    UTF-8, code 1007; a protocol error, 1002) it hands trio-websocket a close event carrying that
    code, as if the peer had closed; trio-websocket then closes the TCP connection without
    sending any close frame, so the peer never learns why. Such a failure is the one case where
    the connection is closed while wsproto still considers it open: then the frame is sent on
    the way out. A real close from the peer has been answered already (wsproto is no longer
    open then), and so has a close of ours.
    """
    stream = ws._stream
    if not isinstance(stream, ReplayStream):
        return

    def last_words() -> bytes:
        verdict = ws.closed
        protocol = ws._wsproto
        if verdict is None or protocol.state is not ConnectionState.OPEN:
            return b""
        # RFC 6455 5.5: a control frame carries at most 125 bytes, the code taking two.
        reason = (verdict.reason or "").encode()[:_MAX_CLOSE_REASON].decode(errors="ignore")
        return protocol.send(CloseConnection(code=verdict.code, reason=reason))

    stream.last_words = last_words


async def _drain_until_eof(ws: WebSocketConnection) -> None:
    stream: trio.abc.Stream = ws._stream
    with contextlib.suppress(
        trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError
    ):
        with contextlib.suppress(AttributeError, OSError):
            await stream.send_eof()  # type: ignore[attr-defined]
        while await stream.receive_some(_DRAIN_CHUNK):
            pass
