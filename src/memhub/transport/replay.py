"""A socket stream that first hands out bytes already read from it.

The HTTP front reads a request head before it knows whether a websocket upgrade follows, and
trio-websocket must then read that same head. Reading (rather than peeking, which leaves the
socket readable and can only be polled) lets waiting for a slow head cost nothing; this stream
gives trio-websocket the bytes back.

It also lets the server say a last word when the stream is finished (:attr:`last_words`): see
:func:`memhub.transport.limits.fail_with_close_frames`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import trio

#: How long the last words may take to be sent before the socket is closed regardless.
LAST_WORDS_TIMEOUT_S: Final = 1.0


class ReplayStream(trio.abc.HalfCloseableStream):
    """``stream`` with ``replay`` in front of whatever it receives next."""

    def __init__(self, stream: trio.SocketStream, replay: bytes) -> None:
        self.stream = stream
        self._replay = replay
        #: Asked once, when the stream is finished (its EOF sent or the stream closed, whichever
        #: comes first); the bytes it returns go out before the FIN (best effort).
        self.last_words: Callable[[], bytes] | None = None
        self._unsent = b""
        # trio-websocket closes the stream from its reader task while the server may be sending
        # its FIN from another: one sender at a time, as a SocketStream demands.
        self._sending = trio.Lock()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._replay:
            await trio.lowlevel.checkpoint()
            size = len(self._replay) if max_bytes is None else max_bytes
            data, self._replay = self._replay[:size], self._replay[size:]
            return data
        return await self.stream.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        async with self._sending:
            await self._send_unsent()
            await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        self._take_last_words()  # before waiting for the lock: they go out ahead of the FIN
        async with self._sending:
            await self._send_unsent()
            await self.stream.send_eof()

    async def aclose(self) -> None:
        try:
            self._take_last_words()
            if self._unsent:
                # Shielded: trio-websocket closes us from its reader task, which the server
                # may be cancelling at that very moment (it saw the connection end too).
                with trio.move_on_after(LAST_WORDS_TIMEOUT_S, shield=True):
                    async with self._sending:
                        await self._send_unsent()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the peer is gone, or the FIN went first: nobody to tell
        finally:
            # Also when cancelled (aclose_forcefully): closing the socket needs no waiting.
            await self.stream.aclose()

    def _take_last_words(self) -> None:
        if self.last_words is not None:
            words, self.last_words = self.last_words(), None
            self._unsent += words

    async def _send_unsent(self) -> None:
        """Send what the last words left; the caller holds ``_sending``."""
        if self._unsent:
            data, self._unsent = self._unsent, b""
            await self.stream.send_all(data)
