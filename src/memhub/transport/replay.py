"""A socket stream that first hands out bytes already read from it.

The HTTP front reads a request head before it knows whether a websocket upgrade follows, and
trio-websocket must then read that same head. Reading (rather than peeking, which leaves the
socket readable and can only be polled) lets waiting for a slow head cost nothing; this stream
gives trio-websocket the bytes back.
"""

from __future__ import annotations

import trio


class ReplayStream(trio.abc.HalfCloseableStream):
    """``stream`` with ``replay`` in front of whatever it receives next."""

    def __init__(self, stream: trio.SocketStream, replay: bytes) -> None:
        self.stream = stream
        self._replay = replay

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._replay:
            await trio.lowlevel.checkpoint()
            size = len(self._replay) if max_bytes is None else max_bytes
            data, self._replay = self._replay[:size], self._replay[size:]
            return data
        return await self.stream.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self.stream.send_eof()

    async def aclose(self) -> None:
        await self.stream.aclose()
