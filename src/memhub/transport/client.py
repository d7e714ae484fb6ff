"""The protocol client: one websocket, many concurrent calls.

Shared by the MCP bridge, the stress harness, ``memhub status``/``stop`` and the tests::

    async with open_daemon_client("127.0.0.1:8765", token, client_name="bridge") as client:
        reply = await client.call(m.Store(id=0, content="remember this"))

Callers build requests with any ``id`` (``0`` by convention): the client gives each call a fresh
one with :func:`attrs.evolve`. One background task reads every frame and routes each reply by
``id`` to the size-1 channel of the call waiting for it. A ``Failed`` reply is raised as the
matching :class:`~memhub.errors.ServiceError` subclass. If the connection drops, every pending
and later call fails promptly with :class:`~memhub.errors.Unavailable`; nothing waits forever.
Callers own their timeouts (``trio.fail_after``).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import attrs
import trio
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection, open_websocket_url

from memhub import PROTOCOL_VERSION
from memhub.errors import (
    BadRequest,
    ErrorCode,
    ProtocolMismatch,
    ServiceError,
    TooLarge,
    Unavailable,
)
from memhub.protocol import messages as m
from memhub.protocol.codec import decode_server, encode, oversize, peek_id

log = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_BYTES: Final = 8 * 1024 * 1024
#: Events buffered for a subscriber that has not read them yet; past that, it is dropped.
EVENT_BUFFER: Final = 1024
#: Frames trio-websocket may buffer; our reader drains them at once, so pings stay answered.
MESSAGE_QUEUE: Final = 64
DISCONNECT_TIMEOUT_S: Final = 2.0


def error_from_failed(reply: m.Failed) -> ServiceError:
    """The exception a ``Failed`` reply stands for (an unknown code becomes InternalError)."""
    try:
        code = ErrorCode(reply.code)
    except ValueError:
        code = ErrorCode.INTERNAL
    return ServiceError.from_code(code, reply.message, reply.detail)


def daemon_url(address: str) -> str:
    """A websocket URL from ``ws://host:port[/path]`` or plain ``host:port``."""
    if address.startswith(("ws://", "wss://")):
        return address
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected ws://host:port or host:port, got {address!r}")
    return f"ws://{host}:{port}"


class DaemonClient:
    """A connected, authenticated client; create it with :func:`open_daemon_client`.

    Safe to share between any number of tasks.

    Attributes:
        url: the daemon's websocket URL.
        welcome: the daemon's answer to our hello (version, database, embedder).
    """

    def __init__(
        self, ws: WebSocketConnection, url: str, welcome: m.Welcome, max_message_bytes: int
    ) -> None:
        self.url = url
        self.welcome = welcome
        self._ws = ws
        self._max_message_bytes = max_message_bytes
        self._ids = itertools.count(1)
        self._pending: dict[int, trio.MemorySendChannel[m.Reply]] = {}
        self._events_send, self._events_recv = trio.open_memory_channel[m.Event](0)
        self._events_send.close()  # nothing is delivered until subscribe()
        self._subscribed = False
        self._lost: str | None = None

    @property
    def closed(self) -> bool:
        """True once the connection is gone; every call then raises Unavailable."""
        return self._lost is not None

    async def call(self, request: m.Request) -> m.Reply:
        """Send ``request`` (its ``id`` is replaced) and return the daemon's reply.

        Raises:
            ServiceError: the daemon answered ``Failed``; the subclass matches the code.
            TooLarge: the request is over the message limit (nothing was sent).
            Unavailable: the connection is gone, before or while waiting.
        """
        if self._lost is not None:
            raise self._unavailable()
        request_id = next(self._ids)
        frame = encode(attrs.evolve(request, id=request_id))
        # The daemon would close the whole connection over an oversized frame: refuse it here.
        if (size := oversize(frame, self._max_message_bytes)) is not None:
            raise TooLarge(
                f"the request is {size} bytes, over the {self._max_message_bytes}-byte "
                "message limit",
                detail={"size": size, "limit": self._max_message_bytes},
            )
        send, recv = trio.open_memory_channel[m.Reply](1)
        self._pending[request_id] = send
        try:
            with recv:
                try:
                    await self._ws.send_message(frame)
                    reply = await recv.receive()
                except (ConnectionClosed, trio.EndOfChannel):
                    raise self._unavailable() from None
        finally:
            # Also on cancellation: a late reply then finds no waiter and is dropped.
            self._pending.pop(request_id, None)
        if isinstance(reply, m.Failed):
            raise error_from_failed(reply)
        return reply

    async def subscribe(self) -> trio.MemoryReceiveChannel[m.Event]:
        """Ask for every change committed by any client; returns the channel they arrive on.

        The channel ends when the connection is lost, after :meth:`unsubscribe`, or when the
        subscriber read too slowly (the daemon dropped it, or :data:`EVENT_BUFFER` events
        piled up here): subscribe again to continue. Calling it while subscribed returns the
        current channel.
        """
        if not self._subscribed:
            # Open the channel before asking, so events right after the Ok are kept.
            self._events_send, self._events_recv = trio.open_memory_channel[m.Event](EVENT_BUFFER)
            self._subscribed = True
        recv = self._events_recv
        try:
            await self.call(m.Subscribe(id=0))
        except BaseException:
            self._end_events()
            raise
        return recv

    def events(self) -> trio.MemoryReceiveChannel[m.Event]:
        """The channel of the current (or last) subscription; see :meth:`subscribe`."""
        return self._events_recv

    async def unsubscribe(self) -> None:
        """Stop receiving events; the events channel ends after what it already holds."""
        self._end_events()
        await self.call(m.Unsubscribe(id=0))

    def _end_events(self) -> None:
        self._subscribed = False
        self._events_send.close()

    def _unavailable(self) -> Unavailable:
        reason = self._lost or "closed"
        return Unavailable(f"connection to memhub daemon lost ({self.url}: {reason})")

    async def _read_loop(self) -> None:
        """Route every frame from the daemon until the connection ends, then fail the rest."""
        reason = "closed"
        try:
            while True:
                self._route(await self._ws.get_message())
        except ConnectionClosed as exc:
            reason = f"closed: {exc.reason}"
        finally:
            self._shut(reason)

    def _route(self, raw: str | bytes) -> None:
        try:
            msg = decode_server(raw)
        except BadRequest as exc:
            # Fail the call it answers (if we can tell which) rather than let it wait forever.
            log.error("unreadable frame from the memhub daemon: %s", exc)
            request_id = peek_id(raw)
            if request_id is None:
                return
            message = f"unreadable reply from the daemon: {exc.message}"
            msg = m.Failed(id=request_id, code=ErrorCode.INTERNAL.value, message=message)
        if isinstance(msg, m.Event):
            self._deliver_event(msg)
        elif msg.id is not None:
            waiter = self._pending.pop(msg.id, None)
            if waiter is not None:
                # A fresh size-1 channel is never full; it is broken if the caller left.
                with contextlib.suppress(trio.BrokenResourceError):
                    waiter.send_nowait(msg)
        elif isinstance(msg, m.Failed):
            log.warning("memhub daemon: %s (%s)", msg.message, msg.code)
            if msg.code in (ErrorCode.OVERLOADED, ErrorCode.SHUTTING_DOWN):
                self._end_events()  # the daemon ended our subscription (lag, or it stops)

    def _deliver_event(self, event: m.Event) -> None:
        try:
            self._events_send.send_nowait(event)
        except trio.WouldBlock:
            log.warning("%d undelivered events: dropping the subscription", EVENT_BUFFER)
            self._end_events()
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass  # not subscribed (any more), or nobody reads the channel

    def _shut(self, reason: str) -> None:
        if self._lost is None:
            self._lost = reason
        for waiter in self._pending.values():
            waiter.close()  # the waiting call sees EndOfChannel -> Unavailable
        self._pending.clear()
        self._end_events()


async def _hello(ws: WebSocketConnection, url: str, token: str, client_name: str) -> m.Welcome:
    hello = m.Hello(id=0, protocol=PROTOCOL_VERSION, token=token, client=client_name)
    try:
        await ws.send_message(encode(hello))
        raw = await ws.get_message()
    except ConnectionClosed as exc:
        raise Unavailable(f"the memhub daemon at {url} closed the connection: {exc}") from None
    try:
        reply = decode_server(raw)
    except BadRequest as exc:
        raise ProtocolMismatch(f"unreadable hello reply from {url}: {exc.message}") from None
    if isinstance(reply, m.Failed):
        raise error_from_failed(reply)
    if not isinstance(reply, m.Welcome) or reply.protocol != PROTOCOL_VERSION:
        raise ProtocolMismatch(f"{url} did not welcome memhub protocol {PROTOCOL_VERSION}")
    return reply


@asynccontextmanager
async def open_daemon_client(
    address: str,
    token: str,
    *,
    client_name: str = "",
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    connect_timeout: float = 5.0,
) -> AsyncIterator[DaemonClient]:
    """Connect to a daemon, say hello, and yield the client; the connection closes on exit.

    Exceptions from the body come out as themselves, not wrapped in the exception group of the
    client's internal nursery, so callers can simply ``except Unavailable``.

    Args:
        address: ``ws://host:port`` or ``host:port`` (from the runtime file).
        token: the daemon's token (from the runtime file).
        client_name: shown in the daemon's log.
        max_message_bytes: largest frame accepted or sent; keep it at least the daemon's.
        connect_timeout: bound on connecting plus the hello exchange, in seconds.

    Raises:
        Unavailable: nothing accepted the connection in time, or it closed during the hello.
        ServiceError: the daemon refused the hello (``Unauthorized``, ``ProtocolMismatch``).
    """
    url = daemon_url(address)
    leaf: Exception | None = None
    try:
        async with _connected_client(
            url, token, client_name, max_message_bytes, connect_timeout
        ) as client:
            yield client
    except BaseExceptionGroup as group:
        # Unwrap exactly our nursery's one-exception group; anything richer is kept as is.
        only = group.exceptions[0] if len(group.exceptions) == 1 else None
        if not isinstance(only, Exception):
            raise
        leaf = only
    if leaf is not None:
        raise leaf  # outside the except block: no "during handling" noise from the group


@asynccontextmanager
async def _connected_client(
    url: str, token: str, client_name: str, max_message_bytes: int, connect_timeout: float
) -> AsyncIterator[DaemonClient]:
    connected = False
    try:
        async with open_websocket_url(
            url,
            message_queue_size=MESSAGE_QUEUE,
            max_message_size=max_message_bytes,
            connect_timeout=connect_timeout,
            disconnect_timeout=DISCONNECT_TIMEOUT_S,
        ) as ws:
            connected = True
            try:
                with trio.move_on_after(connect_timeout) as hello_scope:
                    welcome = await _hello(ws, url, token, client_name)
                if hello_scope.cancelled_caught:
                    raise Unavailable(f"no hello reply from {url} within {connect_timeout:g} s")
                client = DaemonClient(ws, url, welcome, max_message_bytes)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(client._read_loop)
                    try:
                        yield client
                    finally:
                        client._shut("closed by this client")
                        nursery.cancel_scope.cancel()
            finally:
                # Close here, bounded, so that a wedged daemon cannot turn the exit into
                # trio-websocket's DisconnectionTimeout; when cancelled, this drops the socket.
                with trio.move_on_after(DISCONNECT_TIMEOUT_S):
                    await ws.aclose()
    except HandshakeError as exc:
        if connected:
            raise  # raised by the body, not by connecting
        raise Unavailable(f"cannot connect to the memhub daemon at {url}: {exc!r}") from None
