"""The reusable protocol client: one websocket, many concurrent calls.

Shared by the MCP bridge, the stress harness, ``memhub status``/``stop`` and the tests. Callers
build requests with any ``id`` (``0`` is fine): the client assigns a fresh one. A ``Failed``
reply is raised as the matching :class:`~memhub.errors.ServiceError` subclass. If the connection
drops, every pending call fails promptly with :class:`~memhub.errors.Unavailable`; nothing
waits forever. Callers own their timeouts (``trio.fail_after``).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final, TypeVar

import attrs
import trio
from trio_websocket import (
    ConnectionClosed,
    HandshakeError,
    WebSocketConnection,
    connect_websocket_url,
)

from memhub import PROTOCOL_VERSION
from memhub.errors import BadRequest, ErrorCode, ServiceError, Unavailable
from memhub.protocol import messages as m
from memhub.protocol.codec import decode_server, encode

log = logging.getLogger(__name__)
DEFAULT_MAX_MESSAGE_BYTES: Final = 8 * 1024 * 1024
EVENT_QUEUE: Final = 1024
R = TypeVar("R", bound=m.Request)


def _raise_failed(reply: m.Failed) -> None:
    try:
        code = ErrorCode(reply.code)
    except ValueError:
        code = ErrorCode.INTERNAL
    raise ServiceError.from_code(code, reply.message, reply.detail)


class DaemonClient:
    """A connected, authenticated client. Create it with :func:`open_daemon_client`."""

    def __init__(self, ws: WebSocketConnection, url: str, welcome: m.Welcome) -> None:
        self.url = url
        self.welcome = welcome
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, trio.MemorySendChannel[m.ServerMsg]] = {}
        self._events_send, self._events_recv = trio.open_memory_channel[m.Event](EVENT_QUEUE)
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    async def call(self, request: m.Request) -> m.Reply:
        """Send one request and return its reply.

        Raises:
            ServiceError: the daemon answered with an error (a subclass per code).
            Unavailable: the connection is gone (before or while waiting).
        """
        if self._closed:
            raise Unavailable(f"connection to the memhub daemon at {self.url} is closed")
        request_id = next(self._ids)
        send, recv = trio.open_memory_channel[m.ServerMsg](1)
        self._pending[request_id] = send
        try:
            with recv:
                try:
                    await self._ws.send_message(encode(attrs.evolve(request, id=request_id)))
                except ConnectionClosed:
                    raise self._lost() from None
                try:
                    reply = await recv.receive()
                except trio.EndOfChannel:
                    raise self._lost() from None
        finally:
            self._pending.pop(request_id, None)
        if isinstance(reply, m.Failed):
            _raise_failed(reply)
        assert not isinstance(reply, m.Event)
        return reply

    async def subscribe(self) -> trio.MemoryReceiveChannel[m.Event]:
        """Start receiving events; returns the channel they arrive on."""
        await self.call(m.Subscribe(id=0))
        return self._events_recv

    def _lost(self) -> Unavailable:
        return Unavailable(f"connection to the memhub daemon at {self.url} lost")

    async def _read_loop(self) -> None:
        try:
            while True:
                raw = await self._ws.get_message()
                try:
                    msg = decode_server(raw)
                except BadRequest as exc:
                    log.error("unreadable frame from the daemon: %s", exc)
                    continue
                if isinstance(msg, m.Event):
                    try:
                        self._events_send.send_nowait(msg)
                    except trio.WouldBlock:
                        log.warning("event queue full; dropping the subscription")
                        self._events_send.close()
                    except trio.ClosedResourceError:
                        pass
                    continue
                if msg.id is None:
                    if isinstance(msg, m.Failed):
                        log.warning("daemon: %s", msg.message)
                        if msg.code == ErrorCode.OVERLOADED:
                            self._events_send.close()
                    continue
                waiter = self._pending.pop(msg.id, None)
                if waiter is not None:
                    with contextlib.suppress(trio.BrokenResourceError):
                        waiter.send_nowait(msg)
        except ConnectionClosed:
            pass
        finally:
            self._shut()

    def _shut(self) -> None:
        self._closed = True
        for waiter in list(self._pending.values()):
            waiter.close()  # the caller sees EndOfChannel -> Unavailable
        self._pending.clear()
        self._events_send.close()


def _single_error(group: BaseExceptionGroup[BaseException]) -> Exception | None:
    """The one plain exception inside nested single-member groups, if that is all there is."""
    leaf: BaseException = group
    while isinstance(leaf, BaseExceptionGroup) and len(leaf.exceptions) == 1:
        leaf = leaf.exceptions[0]
    return (
        leaf if isinstance(leaf, Exception) and not isinstance(leaf, BaseExceptionGroup) else None
    )


@asynccontextmanager
async def open_daemon_client(
    url: str,
    token: str,
    *,
    client_name: str = "",
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    connect_timeout: float = 5.0,
) -> AsyncIterator[DaemonClient]:
    """Connect, authenticate, and yield a client; the connection closes on exit.

    Errors come out as themselves, not wrapped in the exception group of the client's internal
    nursery, so callers can simply ``except Unavailable``.

    Raises:
        Unavailable: nothing accepted the connection, or it closed during the handshake.
        ServiceError: the daemon refused the hello (``Unauthorized``, ``ProtocolMismatch``).
    """
    try:
        async with _open_daemon_client(
            url,
            token,
            client_name=client_name,
            max_message_bytes=max_message_bytes,
            connect_timeout=connect_timeout,
        ) as client:
            yield client
    except BaseExceptionGroup as group:
        single = _single_error(group)
        if single is None:
            raise
        raise single from None


@asynccontextmanager
async def _open_daemon_client(
    url: str,
    token: str,
    *,
    client_name: str = "",
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    connect_timeout: float = 5.0,
) -> AsyncIterator[DaemonClient]:
    async with trio.open_nursery() as nursery:
        try:
            with trio.fail_after(connect_timeout):
                ws = await connect_websocket_url(
                    nursery, url, message_queue_size=64, max_message_size=max_message_bytes
                )
        except (HandshakeError, OSError, trio.TooSlowError) as exc:
            raise Unavailable(f"cannot connect to the memhub daemon at {url}: {exc}") from None
        try:
            try:
                with trio.fail_after(connect_timeout):
                    await ws.send_message(
                        encode(
                            m.Hello(
                                id=0, protocol=PROTOCOL_VERSION, token=token, client=client_name
                            )
                        )
                    )
                    reply = decode_server(await ws.get_message())
            except (ConnectionClosed, trio.TooSlowError) as exc:
                raise Unavailable(
                    f"the memhub daemon at {url} closed the connection during hello: {exc}"
                ) from None
            if isinstance(reply, m.Failed):
                _raise_failed(reply)
            if not isinstance(reply, m.Welcome):
                raise Unavailable(f"unexpected reply to hello from {url}: {type(reply).__name__}")
            client = DaemonClient(ws, url, reply)
            nursery.start_soon(client._read_loop)
            try:
                yield client
            finally:
                client._shut()
        finally:
            with trio.move_on_after(2, shield=True):
                with contextlib.suppress(Exception):
                    await ws.aclose()
            nursery.cancel_scope.cancel()
