"""The daemon's websocket server: authentication, limits, and one task per request.

Rules that keep one misbehaving client from hurting the others or the daemon:

* One loop per connection only *reads*: it never waits for a backend, so trio-websocket's own
  reader keeps draining the socket and answering pings whatever the load.
* Each request runs in its own task, at most ``max_inflight`` at a time per connection. Past
  that, a request waits up to ``overload_wait_s`` for a slot (backpressure) and then gets a
  typed ``overloaded`` error; at most ``max_inflight`` requests may wait.
* Nothing escapes a connection handler: an exception that reached trio-websocket's nursery
  would take the whole server down with it.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
from functools import partial
from typing import Final

import attrs
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket

from memhub import PROTOCOL_VERSION
from memhub.errors import BadRequest, ErrorCode, ServiceError
from memhub.protocol import messages as m
from memhub.protocol.codec import decode_client, encode
from memhub.transport.backend import Backend

log = logging.getLogger(__name__)
HELLO_TIMEOUT_S: Final = 10.0
#: Frames the library may buffer per connection while our loop hands them out.
MESSAGE_QUEUE: Final = 64
CLOSE_POLICY: Final = 1008


@attrs.frozen
class ApiServer:
    """The running server, as reported through ``task_status``."""

    port: int


@attrs.define
class _Limits:
    token: str
    max_inflight: int
    overload_wait_s: float
    allowed_origins: tuple[str, ...]
    port: int = 0


async def serve_websocket_api(
    backend: Backend,
    *,
    host: str,
    port: int,
    token: str,
    max_message_bytes: int,
    max_inflight: int,
    allowed_origins: tuple[str, ...] = (),
    overload_wait_s: float = 2.0,
    task_status: trio.TaskStatus[ApiServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the protocol until cancelled; reports the bound port once listening."""
    limits = _Limits(token, max_inflight, overload_wait_s, allowed_origins)

    async def handler(request: WebSocketRequest) -> None:
        try:
            await _connection(request, backend, limits)
        except ConnectionClosed:
            pass
        except Exception:
            log.exception("connection handler failed")

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            partial(
                serve_websocket,
                handler,
                host,
                port,
                None,
                message_queue_size=MESSAGE_QUEUE,
                max_message_size=max_message_bytes,
                connect_timeout=HELLO_TIMEOUT_S,
                disconnect_timeout=5,
            )
        )
        limits.port = server.port
        task_status.started(ApiServer(port=server.port))


def _origin_allowed(request: WebSocketRequest, limits: _Limits) -> bool:
    origins = [v.decode("latin-1") for k, v in request.headers if k.lower() == b"origin"]
    if not origins:
        return True  # not a browser: the token is what authenticates it
    own = {f"http://127.0.0.1:{limits.port}", f"http://localhost:{limits.port}"}
    return all(o in own or o in limits.allowed_origins for o in origins)


async def _send(ws: WebSocketConnection, msg: m.ServerMsg) -> None:
    with contextlib.suppress(ConnectionClosed):  # the peer left: nowhere to reply to
        await ws.send_message(encode(msg))


def _failed(request_id: int | None, exc: ServiceError) -> m.Failed:
    return m.Failed(id=request_id, code=str(exc.code), message=exc.message, detail=exc.detail)


async def _connection(request: WebSocketRequest, backend: Backend, limits: _Limits) -> None:
    if not _origin_allowed(request, limits):
        await request.reject(403, body=b"memhub: this origin may not connect")
        return
    ws = await request.accept()
    hello = await _handshake(ws, backend, limits)
    if hello is None:
        return
    backend.connection_opened()
    try:
        await _serve(ws, backend, limits)
    finally:
        backend.connection_closed()


async def _handshake(ws: WebSocketConnection, backend: Backend, limits: _Limits) -> m.Hello | None:
    with trio.move_on_after(HELLO_TIMEOUT_S):
        raw = await ws.get_message()
        try:
            msg = decode_client(raw)
        except BadRequest as exc:
            await _send(ws, _failed((exc.detail or {}).get("id"), exc))
            await ws.aclose(CLOSE_POLICY, "bad hello")
            return None
        if not isinstance(msg, m.Hello):
            await _send(
                ws,
                m.Failed(
                    id=msg.id,
                    code=ErrorCode.BAD_REQUEST,
                    message="the first message must be a hello",
                ),
            )
            await ws.aclose(CLOSE_POLICY, "hello expected")
            return None
        if msg.protocol != PROTOCOL_VERSION:
            await _send(
                ws,
                m.Failed(
                    id=msg.id,
                    code=ErrorCode.PROTOCOL_MISMATCH,
                    message=f"this daemon speaks protocol {PROTOCOL_VERSION}, not {msg.protocol}; "
                    "upgrade the older side",
                ),
            )
            await ws.aclose(CLOSE_POLICY, "protocol mismatch")
            return None
        if not hmac.compare_digest(msg.token.encode(), limits.token.encode()):
            await _send(
                ws,
                m.Failed(
                    id=msg.id,
                    code=ErrorCode.UNAUTHORIZED,
                    message="wrong token: read it from the daemon's runtime file (DB.memhub.json)",
                ),
            )
            await ws.aclose(CLOSE_POLICY, "unauthorized")
            return None
        ident = backend.identity
        await ws.send_message(
            encode(
                m.Welcome(
                    id=msg.id,
                    protocol=ident.protocol,
                    server_version=ident.server_version,
                    db_path=ident.db_path,
                    pid=ident.pid,
                    schema=ident.schema,
                    embedder=ident.embedder,
                    embedding_dim=ident.embedding_dim,
                )
            )
        )
        return msg
    await ws.aclose(CLOSE_POLICY, "no hello in time")
    return None


@attrs.define
class _Connection:
    ws: WebSocketConnection
    backend: Backend
    limits: _Limits
    nursery: trio.Nursery
    inflight: trio.Semaphore
    waiting: int = 0
    subscription: trio.CancelScope | None = None

    def dispatch(self, msg: m.ClientMsg) -> None:
        """Start the task that serves ``msg``; never blocks the read loop."""
        if isinstance(msg, m.Hello):
            self.nursery.start_soon(
                _send,
                self.ws,
                m.Failed(
                    id=msg.id, code=ErrorCode.BAD_REQUEST, message="hello was already received"
                ),
            )
            return
        try:
            self.inflight.acquire_nowait()
        except trio.WouldBlock:
            if self.waiting >= self.limits.max_inflight:
                self.nursery.start_soon(_send, self.ws, self._overloaded(msg.id))
                return
            self.waiting += 1
            self.nursery.start_soon(self._wait_then_serve, msg)
            return
        self.nursery.start_soon(self._serve_one, msg)

    def _overloaded(self, request_id: int | None) -> m.Failed:
        return m.Failed(
            id=request_id,
            code=ErrorCode.OVERLOADED,
            message=f"too many requests in flight on this connection (limit "
            f"{self.limits.max_inflight}); retry later",
        )

    async def _wait_then_serve(self, msg: m.Request) -> None:
        got_slot = False
        try:
            with trio.move_on_after(self.limits.overload_wait_s):
                await self.inflight.acquire()
                got_slot = True
        finally:
            self.waiting -= 1
        if got_slot:
            await self._serve_one(msg)
        else:
            await _send(self.ws, self._overloaded(msg.id))

    async def _serve_one(self, msg: m.Request) -> None:
        try:
            reply = await self._reply(msg)
        finally:
            self.inflight.release()
        await _send(self.ws, reply)
        if isinstance(msg, m.Shutdown):
            self.backend.request_shutdown()

    async def _reply(self, msg: m.Request) -> m.ServerMsg:
        try:
            if isinstance(msg, m.Subscribe):
                if self.subscription is None:
                    self.subscription = trio.CancelScope()
                    self.nursery.start_soon(self._forward_events, self.subscription)
                return m.Ok(id=msg.id)
            if isinstance(msg, m.Unsubscribe):
                if self.subscription is not None:
                    self.subscription.cancel()
                    self.subscription = None
                return m.Ok(id=msg.id)
            if isinstance(msg, m.Shutdown):
                return m.Ok(id=msg.id)
            return await self.backend.handle(msg)
        except ServiceError as exc:
            return _failed(msg.id, exc)
        except Exception as exc:
            log.exception("request %s failed", type(msg).__name__)
            return m.Failed(
                id=msg.id,
                code=ErrorCode.INTERNAL,
                message=f"internal error: {type(exc).__name__}: {exc}",
            )

    async def _forward_events(self, scope: trio.CancelScope) -> None:
        with scope, self.backend.subscribe() as events:
            async for event in events:
                await _send(self.ws, event)
            # The hub closed our channel: this subscriber fell too far behind.
            await _send(
                self.ws,
                m.Failed(
                    id=None,
                    code=ErrorCode.OVERLOADED,
                    message="event subscription dropped: the client read events too slowly; "
                    "subscribe again",
                ),
            )
        if self.subscription is scope:
            self.subscription = None


async def _serve(ws: WebSocketConnection, backend: Backend, limits: _Limits) -> None:
    async with trio.open_nursery() as nursery:
        conn = _Connection(ws, backend, limits, nursery, trio.Semaphore(limits.max_inflight))
        try:
            while True:
                raw = await ws.get_message()
                try:
                    msg = decode_client(raw)
                except BadRequest as exc:
                    nursery.start_soon(_send, ws, _failed((exc.detail or {}).get("id"), exc))
                    continue
                conn.dispatch(msg)
        except ConnectionClosed:
            pass
        finally:
            nursery.cancel_scope.cancel()
