"""The daemon's one listener: websocket upgrades go to trio-websocket, plain GETs get the web UI.

trio-websocket's own server rejects any request that is not an upgrade before a handler runs,
so this front reads the request head first. Waiting for it costs nothing: the front blocks in
``receive_some`` (peeking instead would leave the socket readable, so waiting for *more* bytes
could only be done by polling, which 1,000 idle connections turned into a whole core). An
upgrade is handed to :func:`trio_websocket.wrap_server_stream` on a
:class:`~memhub.transport.replay.ReplayStream` that gives it the head (and anything read with
it) again. A head ends at its blank line, CRLF or bare LF as h11 accepts it.

Everything else is answered here with h11 and closed (``Connection: close``): ``GET``/``HEAD``
of the packaged static files, nothing more. Limits: a head of at most :data:`MAX_HEAD_BYTES`
arriving within :data:`HEAD_TIMEOUT_S`.

Every request, websocket or not, must name the daemon itself in ``Host``
(``127.0.0.1:PORT``, ``localhost:PORT``, ``[::1]:PORT``): a page on another site that rebinds
its DNS name to 127.0.0.1 sends its own name there and is refused. A websocket upgrade from a
browser must also come from the daemon's own origin or one listed in ``MEMHUB_ALLOW_ORIGIN``
(cross-site websocket hijacking); it is refused with 403 before any websocket exists.

Until a connection is authenticated (its ``hello`` accepted, or its HTTP request answered) it
sits in an :class:`~memhub.transport.admission.AdmissionPool`, capped apart from authenticated
connections; when the pool is full the connection that has waited longest is closed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Final

import attrs
import h11
import trio
from trio_websocket import WebSocketRequest, wrap_server_stream

from memhub.transport.admission import DEFAULT_MAX_PENDING, AdmissionPool, Pending
from memhub.transport.limits import fail_with_close_frames
from memhub.transport.replay import ReplayStream
from memhub.webui.site import StaticSite

log = logging.getLogger(__name__)

MAX_HEAD_BYTES: Final = 16 * 1024
HEAD_TIMEOUT_S: Final = 10.0
SEND_TIMEOUT_S: Final = 10.0
#: How long an evicted connection is given to take its 503 (the bytes fit any socket buffer).
EVICTION_NOTICE_S: Final = 0.5
# h11's own end of a head: a blank line after LF or CRLF line endings.
_BLANK_LINE: Final = re.compile(rb"\n\r?\n")

_REASONS: Final = {
    200: b"OK",
    400: b"Bad Request",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}

#: Serves one upgraded connection; calls ``Pending.authenticated`` once its hello is accepted.
WebSocketHandler = Callable[[WebSocketRequest, Pending], Awaitable[None]]


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


def own_origins(port: int) -> frozenset[str]:
    """The browser origins of the daemon's own pages."""
    return frozenset({f"http://127.0.0.1:{port}", f"http://localhost:{port}"})


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
    allowed_origins: frozenset[str] = frozenset(),
    max_pending: int = DEFAULT_MAX_PENDING,
    task_status: trio.TaskStatus[Listening] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on ``host:port`` (0: any free port) and serve both protocols until cancelled.

    ``allowed_origins`` are browser origins allowed besides the daemon's own; ``max_pending``
    caps the connections not yet authenticated.
    """
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = listeners[0].socket.getsockname()[1]
    front = _Front(
        ws_handler,
        ws_options,
        site if site is not None else StaticSite.from_package(),
        allowed_hosts(bound, host),
        own_origins(bound) | allowed_origins,
        bound,
        AdmissionPool(max_pending),
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
        origins: frozenset[str],
        port: int,
        pool: AdmissionPool,
    ) -> None:
        self.ws_handler = ws_handler
        self.ws_options = ws_options
        self.site = site
        self.hosts = hosts
        self.origins = origins
        self.port = port
        self.pool = pool

    async def serve(self, stream: trio.SocketStream) -> None:
        # The firewall, as for websocket handlers: one bad connection never stops the listener.
        try:
            with self.pool.admit() as pending:
                with pending.scope:
                    await self._serve(stream, pending)
                if pending.evicted and pending.phase == "head":
                    await self._tell_evicted(stream)
        except* (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass  # the peer left
        except* Exception:
            log.exception("http connection failed")
        finally:
            await trio.aclose_forcefully(stream)

    async def _tell_evicted(self, stream: trio.SocketStream) -> None:
        body = (
            f"memhub: too many connections are waiting to authenticate (limit "
            f"{self.pool.limit}); this one waited longest and was closed\n"
        ).encode()
        with trio.move_on_after(EVICTION_NOTICE_S):
            await self._respond(stream, None, None, 503, body)

    async def _serve(self, stream: trio.SocketStream, pending: Pending) -> None:
        received: bytes | None = None
        with trio.move_on_after(HEAD_TIMEOUT_S):
            received = await _read_head(stream)
        if received is None:
            return  # too slow or gone before a whole head arrived
        pending.phase = "response"  # from here on, an eviction only closes the socket
        end = _BLANK_LINE.search(received)
        if end is None or end.end() > MAX_HEAD_BYTES:
            await _drain_briefly(stream)
            await self._respond(stream, None, None, 431, b"request head too large\n")
            return
        head = received[: end.end()]
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
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
            body = b"memhub: this Host may not connect; use http://127.0.0.1:PORT\n"
            await self._respond(stream, conn, event, 403, body)
            return
        if event.method == b"GET" and b"websocket" in headers.get(b"upgrade", b"").lower():
            if not self._origin_allowed(event):
                # A web page must not drive the daemon, even without the token (CSWSH).
                body = b"memhub: this origin may not connect\n"
                await self._respond(stream, conn, event, 403, body)
                return
            pending.phase = "hello"
            await self._websocket(ReplayStream(stream, received), pending)
            return
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

    def _origin_allowed(self, request: h11.Request) -> bool:
        origins = [v.decode("latin-1") for k, v in request.headers if k.lower() == b"origin"]
        # No Origin: not a browser, and the token is what authenticates it.
        return all(origin in self.origins for origin in origins)

    async def _websocket(self, stream: ReplayStream, pending: Pending) -> None:
        """What trio-websocket's server does per connection, on the stream we read the head of."""
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
            # Before the handler accepts: the peer's first frame may be the one that fails.
            fail_with_close_frames(request._connection)
            try:
                await self.ws_handler(request, pending)
            finally:
                with trio.move_on_after(opts.disconnect_timeout):
                    # As serve_websocket does: also ends the reader task if still running.
                    await request._connection.aclose()
                nursery.cancel_scope.cancel()

    async def _respond(
        self,
        stream: trio.SocketStream,
        conn: h11.Connection | None,
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
        if request is None or conn is None:
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


async def _read_head(stream: trio.SocketStream) -> bytes | None:
    """What the peer sent, through the head's blank line at least; None on EOF before it.

    Blocks in ``receive_some`` between segments, so a head that never ends costs nothing but
    its socket. Returns more than :data:`MAX_HEAD_BYTES` bytes when no blank line came within
    them, and may return bytes past the blank line (whatever the segment carried): the caller
    replays them all to trio-websocket.
    """
    received = bytearray()
    while True:
        chunk = await stream.receive_some(MAX_HEAD_BYTES + 1)
        if not chunk:
            return None
        searched_from = max(0, len(received) - 2)  # a blank line may straddle two segments
        received += chunk
        if _BLANK_LINE.search(received, searched_from) or len(received) > MAX_HEAD_BYTES:
            return bytes(received)


async def _drain_briefly(stream: trio.SocketStream) -> None:
    """Read what is already buffered, so that closing after the answer sends no RST."""
    with trio.move_on_after(0.1):
        await stream.receive_some(65536)
