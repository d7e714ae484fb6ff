"""The daemon's one listener: websocket upgrades go to trio-websocket, plain GETs get the web UI.

trio-websocket's own server rejects any request that is not an upgrade before a handler runs,
so this front reads the request head first. It only *peeks* at it (``MSG_PEEK``): an upgrade is
handed to :func:`trio_websocket.wrap_server_stream` on the untouched socket stream, which reads
the same head again, so the websocket path (and ``request.local``, which the Origin check uses)
is exactly what ``serve_websocket`` would have produced.

Everything else is answered here with h11 and closed (``Connection: close``): ``GET``/``HEAD``
of the packaged static files, nothing more. Limits: a head of at most :data:`MAX_HEAD_BYTES`
arriving within :data:`HEAD_TIMEOUT_S`.

Every request, websocket or not, must name the daemon itself in ``Host``
(``127.0.0.1:PORT``, ``localhost:PORT``, ``[::1]:PORT``): a page on another site that rebinds
its DNS name to 127.0.0.1 sends its own name there and is refused.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Final

import attrs
import h11
import trio
from trio_websocket import WebSocketRequest, wrap_server_stream

from memhub.webui.site import StaticSite

log = logging.getLogger(__name__)

MAX_HEAD_BYTES: Final = 16 * 1024
HEAD_TIMEOUT_S: Final = 10.0
SEND_TIMEOUT_S: Final = 10.0
_PEEK_POLL_S: Final = 0.01

_REASONS: Final = {
    200: b"OK",
    400: b"Bad Request",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    431: b"Request Header Fields Too Large",
}

WebSocketHandler = Callable[[WebSocketRequest], Awaitable[None]]


@attrs.frozen(kw_only=True)
class WebSocketOptions:
    """What ``serve_websocket`` would have been given."""

    message_queue_size: int
    max_message_size: int
    connect_timeout: float
    disconnect_timeout: float


@attrs.frozen
class Listening:
    """Reported through ``task_status`` once the socket listens."""

    port: int


def allowed_hosts(port: int, bind_host: str) -> frozenset[str]:
    """The ``Host`` values that name this daemon (case-insensitive, compared lower-cased)."""
    names = {"127.0.0.1", "localhost", "[::1]"}
    if bind_host not in ("", "0.0.0.0", "::"):
        names.add(f"[{bind_host}]" if ":" in bind_host else bind_host)
    return frozenset(f"{name}:{port}".lower() for name in names)


async def serve_http_and_websocket(
    ws_handler: WebSocketHandler,
    host: str,
    port: int,
    *,
    ws_options: WebSocketOptions,
    site: StaticSite | None = None,
    task_status: trio.TaskStatus[Listening] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on ``host:port`` (0: any free port) and serve both protocols until cancelled."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = listeners[0].socket.getsockname()[1]
    front = _Front(
        ws_handler,
        ws_options,
        site if site is not None else StaticSite.from_package(),
        allowed_hosts(bound, host),
        bound,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, front.serve, listeners)
        task_status.started(Listening(port=bound))


class _Front:
    def __init__(
        self,
        ws_handler: WebSocketHandler,
        ws_options: WebSocketOptions,
        site: StaticSite,
        hosts: frozenset[str],
        port: int,
    ) -> None:
        self.ws_handler = ws_handler
        self.ws_options = ws_options
        self.site = site
        self.hosts = hosts
        self.port = port

    async def serve(self, stream: trio.SocketStream) -> None:
        # The firewall, as for websocket handlers: one bad connection never stops the listener.
        try:
            await self._serve(stream)
        except* (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass  # the peer left
        except* Exception:
            log.exception("http connection failed")
        finally:
            await trio.aclose_forcefully(stream)

    async def _serve(self, stream: trio.SocketStream) -> None:
        head: bytes | None = None
        with trio.move_on_after(HEAD_TIMEOUT_S):
            head = await _peek_head(stream)
        if head is None:
            return  # too slow or gone before a whole head arrived
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        if len(head) > MAX_HEAD_BYTES:
            await _discard(stream, 0)
            await self._respond(stream, conn, None, 431, b"request head too large\n")
            return
        conn.receive_data(head)
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError:
            await self._respond(stream, conn, None, 400, b"bad request\n")
            return
        if not isinstance(event, h11.Request):
            await self._respond(stream, conn, None, 400, b"bad request\n")
            return
        headers = {k.lower(): v for k, v in event.headers}
        host = headers.get(b"host", b"").decode("latin-1").lower()
        if host not in self.hosts:
            await _discard(stream, len(head))
            body = b"memhub: this Host may not connect; use http://127.0.0.1:PORT\n"
            await self._respond(stream, conn, event, 403, body)
            return
        if event.method == b"GET" and b"websocket" in headers.get(b"upgrade", b"").lower():
            await self._websocket(stream)
            return
        await _discard(stream, len(head))
        if event.method not in (b"GET", b"HEAD"):
            await self._respond(stream, conn, event, 405, b"method not allowed\n", allow=True)
            return
        target = event.target.decode("latin-1")
        found = self.site.lookup(target.split("?", 1)[0])
        if found is None:
            await self._respond(stream, conn, event, 404, b"not found\n")
            return
        await self._respond(
            stream,
            conn,
            event,
            200,
            found.body,
            content_type=found.content_type,
            cache=found.cache_control,
        )

    async def _websocket(self, stream: trio.SocketStream) -> None:
        """What trio-websocket's server does per connection, on the stream we peeked at."""
        opts = self.ws_options
        async with trio.open_nursery() as nursery:
            request = None
            with trio.move_on_after(opts.connect_timeout):
                request = await wrap_server_stream(
                    nursery,
                    stream,
                    message_queue_size=opts.message_queue_size,
                    max_message_size=opts.max_message_size,
                )
            if request is None:
                nursery.cancel_scope.cancel()
                return
            try:
                await self.ws_handler(request)
            finally:
                with trio.move_on_after(opts.disconnect_timeout):
                    # As serve_websocket does: also ends the reader task if still running.
                    await request._connection.aclose()
                nursery.cancel_scope.cancel()

    async def _respond(
        self,
        stream: trio.SocketStream,
        conn: h11.Connection,
        request: h11.Request | None,
        status: int,
        body: bytes,
        *,
        content_type: str = "text/plain; charset=utf-8",
        cache: str = "no-store",
        allow: bool = False,
    ) -> None:
        headers = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", cache.encode()),
            (b"connection", b"close"),
            *self.site.security_headers(self.port),
        ]
        if allow:
            headers.append((b"allow", b"GET, HEAD"))
        if request is None:
            # The head could not be read: answer outside h11's state machine.
            lines = [b"HTTP/1.1 %d %s" % (status, _REASONS[status])]
            lines += [k + b": " + v for k, v in headers]
            data = b"\r\n".join(lines) + b"\r\n\r\n" + body
        else:
            response = h11.Response(status_code=status, headers=headers, reason=_REASONS[status])
            data = conn.send(response) or b""
            if request.method != b"HEAD":
                data += conn.send(h11.Data(data=body)) or b""
            data += conn.send(h11.EndOfMessage()) or b""
        with trio.move_on_after(SEND_TIMEOUT_S):
            await stream.send_all(data)
            await stream.send_eof()


async def _peek_head(stream: trio.SocketStream) -> bytes | None:
    """The request head (through the blank line) still unread on the socket; None on EOF.

    Returns more than :data:`MAX_HEAD_BYTES` bytes (without a blank line) for an oversized head.
    """
    sock = stream.socket
    seen = -1
    while True:
        data = await sock.recv(MAX_HEAD_BYTES + 1, socket.MSG_PEEK)
        if not data:
            return None
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            return data[: end + 4]
        if len(data) > MAX_HEAD_BYTES:
            return data
        if len(data) == seen:
            # Peeked data stays readable, so waiting for readability would spin: poll instead.
            # Browsers send a head in one segment, so this loop is almost never entered.
            await trio.sleep(_PEEK_POLL_S)
        seen = len(data)


async def _discard(stream: trio.SocketStream, count: int) -> None:
    """Consume ``count`` peeked bytes (0: whatever is buffered now) so closing sends no RST."""
    if count == 0:
        with trio.move_on_after(0.1):
            await stream.receive_some(MAX_HEAD_BYTES + 1)
        return
    while count > 0:
        data = await stream.receive_some(count)
        if not data:
            return
        count -= len(data)
