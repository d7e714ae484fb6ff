"""The daemon's websocket server: origin check, hello, limits, and one task per request.

Rules that keep one misbehaving client from hurting the others or the daemon:

* Each connection has one loop that only *reads*. It never waits for the backend, so
  trio-websocket's own reader keeps draining the socket and answering pings whatever the load.
* Each request runs in its own task, at most ``max_inflight`` at a time per connection, holding
  its slot until its reply is sent. Past that, a request waits up to ``overload_wait_s`` for a
  slot (backpressure) and then gets a typed ``overloaded`` error. At most ``max_inflight``
  requests may wait; beyond that the read loop itself pauses until a waiter leaves (which
  takes at most ``overload_wait_s``), so memory per connection stays bounded.
* Memory per connection is bounded (:class:`~memhub.transport.limits.ByteBudget`): a frame is
  decoded as soon as it is read (the raw text is not kept), and the request plus its reply
  count against the connection's budget until the reply is sent. When the budget is spent the
  read loop stops reading and TCP pushes back. A reply the client does not read within
  ``send_timeout_s`` costs it the connection.
* Authenticated connections are capped (``max_connections``, counted from an accepted
  ``hello``); one past the cap is told why and closed with 1013 ("try again later").
  Connections not yet authenticated have a cap of their own (``max_pending``, see
  :mod:`~memhub.transport.admission`): the one that waited longest is closed to let a new one
  in (told why with 1013 if it already had its websocket), so they never take an
  authenticated client's place.
* Every connection ends within ``CLOSE_TIMEOUT_S`` of deciding to close it, whatever the peer
  does, and nothing before ``hello`` lasts longer than ``HANDSHAKE_TIMEOUT_S``.
* Nothing escapes a connection handler: trio-websocket runs handlers in the server's own
  nursery, so one escaped exception would take every connection down with it.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Final

import attrs
import trio
from trio_websocket import (
    ConnectionClosed,
    WebSocketConnection,
    WebSocketRequest,
)

from memhub.credentials import Admitted, Caller, Credentials, Session
from memhub.errors import ErrorCode, ServiceError
from memhub.protocol import messages as m
from memhub.protocol.codec import encode
from memhub.transport.admission import DEFAULT_MAX_PENDING, Pending
from memhub.transport.backend import Backend
from memhub.transport.browser import BrowserPolicy
from memhub.transport.frames import decode_frame, event_frame, fail, reply_frame
from memhub.transport.hello import CLOSE_POLICY, CLOSE_UNAUTHORIZED, check_hello
from memhub.transport.http import WebSocketOptions, serve_http_and_websocket
from memhub.transport.limits import (
    ByteBudget,
    Census,
    close_promptly,
    drop_tcp,
    set_message_limit,
)

log = logging.getLogger(__name__)

#: A client that connects must complete the websocket handshake and say hello this fast.
HANDSHAKE_TIMEOUT_S: Final = 10.0
#: How long a close handshake may take before the socket is simply dropped.
CLOSE_TIMEOUT_S: Final = 2.0
#: Frames trio-websocket may buffer per connection, each up to the message limit. Our loop
#: drains it at once (decoding is all it does) and pauses only when the connection's budget is
#: spent, so 2 keeps pings answered during bursts without a second hidden buffer of big frames.
MESSAGE_QUEUE: Final = 2
#: Largest frame accepted before hello is answered: a hello is tiny, and a process without the
#: token must not make the daemon buffer maximum-size frames on many connections.
HELLO_MAX_BYTES: Final = 64 * 1024
#: A reply the client does not read within this long (its socket buffers are full) costs it
#: the connection: waiting longer would only hold the reply's memory for nobody.
SEND_TIMEOUT_S: Final = 10.0
#: Authenticated connections at once (MEMHUB_MAX_CONNECTIONS); each costs a file descriptor
#: and a budget.
DEFAULT_MAX_CONNECTIONS: Final = 256
#: What a connection's budget reserves for a read's reply before it is known (reads are the
#: requests whose replies can be big); see :meth:`_Connection._answer`.
READ_REPLY_RESERVE_FRACTION: Final = 8
CLOSE_TRY_LATER: Final = 1013  # RFC 6455 "try again later": too many connections
#: How long an evicted connection's close handshake may take (the daemon is under a flood).
EVICTED_CLOSE_S: Final = 0.5
_READS: Final = (m.Get, m.Search, m.ListMemories, m.Health)


@attrs.frozen
class ApiServer:
    """The running server, as reported through ``task_status``."""

    port: int


@attrs.frozen(kw_only=True)
class _Policy:
    backend: Backend
    welcome: m.Welcome
    credentials: Credentials
    max_message_bytes: int
    max_inflight: int
    overload_wait_s: float
    send_timeout_s: float
    census: Census
    browser: BrowserPolicy

    @property
    def connection_budget(self) -> int:
        """Bytes one connection may hold: two maximum-size messages."""
        return 2 * self.max_message_bytes


async def serve_websocket_api(
    backend: Backend,
    *,
    welcome: m.Welcome,
    host: str,
    port: int,
    token: str,
    max_message_bytes: int,
    max_inflight: int,
    allowed_origins: tuple[str, ...] = (),
    overload_wait_s: float = 2.0,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    max_pending: int = DEFAULT_MAX_PENDING,
    send_timeout_s: float = SEND_TIMEOUT_S,
    credentials: Credentials | None = None,
    task_status: trio.TaskStatus[ApiServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the memhub protocol for ``backend`` until cancelled.

    Use it as ``server = await nursery.start(partial(serve_websocket_api, backend, ...))``:
    ``server.port`` is the bound port (useful with ``port=0``).

    Args:
        backend: the daemon behind the socket.
        welcome: the reply to every accepted ``Hello`` (its ``id`` is replaced by the hello's).
        host: interface to bind; callers pass ``127.0.0.1`` unless told otherwise.
        port: TCP port, 0 for any free one.
        token: the secret every ``Hello`` must carry.
        max_message_bytes: largest frame accepted (bigger ones close the connection with 1009)
            and largest reply sent (bigger ones are answered with ``too_large``).
        max_inflight: requests served at once per connection.
        allowed_origins: browser origins allowed besides the daemon's own.
        overload_wait_s: how long a request past ``max_inflight`` waits for a slot.
        max_connections: authenticated connections at once; the next hello is refused with
            ``overloaded`` and close code 1013.
        max_pending: connections not yet authenticated at once; past it the oldest is closed.
        send_timeout_s: how long a reply may wait for the client to read before it is dropped.
        credentials: browser tickets and sessions besides ``token`` (the daemon shares them
            with the service, which issues tickets); default: the master token alone.
        task_status: reports an :class:`ApiServer` once the socket is listening.
    """
    if min(max_inflight, max_message_bytes, max_connections, max_pending) < 1 or (
        send_timeout_s <= 0
    ):
        raise ValueError(
            "max_inflight, max_message_bytes, max_connections, max_pending and send_timeout_s "
            "must be positive"
        )
    policy = _Policy(
        backend=backend,
        welcome=welcome,
        credentials=credentials if credentials is not None else Credentials(token),
        max_message_bytes=max_message_bytes,
        max_inflight=max_inflight,
        overload_wait_s=overload_wait_s,
        send_timeout_s=send_timeout_s,
        census=Census(limit=max_connections),
        browser=BrowserPolicy(),
    )
    async with trio.open_nursery() as nursery:
        # One listener for the websocket API and the web UI's static files (transport.http).
        server = await nursery.start(
            partial(
                serve_http_and_websocket,
                partial(_handle_connection, policy),
                host,
                port,
                ws_options=WebSocketOptions(
                    message_queue_size=MESSAGE_QUEUE,
                    max_message_size=max_message_bytes,
                    connect_timeout=HANDSHAKE_TIMEOUT_S,
                    disconnect_timeout=CLOSE_TIMEOUT_S,
                ),
                allowed_origins=frozenset(allowed_origins),
                max_pending=max_pending,
            )
        )
        task_status.started(ApiServer(port=server.port))


async def _handle_connection(policy: _Policy, request: WebSocketRequest, pending: Pending) -> None:
    # The firewall: trio.Cancelled passes (except* leaves BaseExceptions alone), everything
    # else ends here so that one connection can never stop the server.
    try:
        await _connection(policy, request, pending)
    except* ConnectionClosed:
        pass  # the peer left; there is nobody to answer
    except* Exception:
        log.exception("websocket connection failed")


async def _connection(policy: _Policy, request: WebSocketRequest, pending: Pending) -> None:
    ws: WebSocketConnection | None = None
    close_code = CLOSE_POLICY
    reason_or_none: str | None = "no hello in time"
    counted = False
    try:
        caller: Caller | None = None
        admitted: Admitted | None = None
        # One deadline for everything before hello is answered, whatever path it takes.
        with trio.move_on_after(HANDSHAKE_TIMEOUT_S):
            ws = await request.accept()
            set_message_limit(ws, min(HELLO_MAX_BYTES, policy.max_message_bytes))
            checked = await _read_hello(ws, policy)
            if isinstance(checked[0], m.Hello):
                hello, admitted = checked
                if policy.census.try_enter():
                    counted = True
                    pending.authenticated()  # never evicted from here on
                    caller = await _welcome(ws, policy, hello, admitted)
                else:
                    close_code, reason_or_none = await _refuse_busy(policy, ws, hello.id)
            else:
                failed, close_code = checked
                if failed is not None:
                    reason_or_none = failed.code
                    await _send(ws, failed)
        if caller is not None and admitted is not None and ws is not None:
            close_code, reason_or_none = 1000, None
            set_message_limit(ws, policy.max_message_bytes)
            policy.backend.connection_opened(caller)
            connection = _Connection(ws, policy, admitted.session, caller)
            try:
                await connection.run()
            finally:
                policy.backend.connection_closed(caller)
            if connection.session_ended:
                close_code, reason_or_none = CLOSE_UNAUTHORIZED, "memhub: browser session ended"
    finally:
        try:
            if ws is not None and pending.evicted:
                # Cancelled to make room for a newer connection: say so, briefly.
                with trio.CancelScope(shield=True):
                    reason = "memhub: too many connections waiting for hello; try again"
                    await close_promptly(ws, CLOSE_TRY_LATER, reason, EVICTED_CLOSE_S)
            elif ws is not None:
                await close_promptly(ws, close_code, reason_or_none, CLOSE_TIMEOUT_S)
        finally:
            if counted:
                policy.census.leave()


async def _refuse_busy(
    policy: _Policy, ws: WebSocketConnection, request_id: int
) -> tuple[int, str]:
    """Tell a client past the connection cap why it is refused; the close code and reason."""
    limit = policy.census.limit
    message = (
        f"memhub: too many connections (limit {limit}, MEMHUB_MAX_CONNECTIONS); close idle "
        "clients or raise the limit"
    )
    log.warning("refused a connection: %d connections are open (the limit)", limit)
    await _send(ws, fail(request_id, ErrorCode.OVERLOADED, message, {"limit": limit}))
    # The close reason is limited to 123 bytes by RFC 6455; the Failed above says more.
    return CLOSE_TRY_LATER, f"memhub: too many connections (limit {limit})"


async def _send(ws: WebSocketConnection, msg: m.ServerMsg | str) -> bool:
    """Send a message (or an encoded frame); False if the peer is gone (nobody's error)."""
    frame = msg if isinstance(msg, str) else encode(msg)
    try:
        await ws.send_message(frame)
    except ConnectionClosed:
        return False
    return True


async def _read_hello(
    ws: WebSocketConnection, policy: _Policy
) -> tuple[m.Hello, Admitted] | tuple[m.Failed | None, int]:
    """Read and check the hello; or say how to refuse it.

    The caller bounds the whole exchange by ``HANDSHAKE_TIMEOUT_S``; a peer that sends nothing
    is refused with ``(None, CLOSE_POLICY)`` when that runs out.
    """
    raw = await ws.get_message()
    checked = check_hello(raw, policy.credentials)
    del raw
    return checked


async def _welcome(
    ws: WebSocketConnection, policy: _Policy, hello: m.Hello, admitted: Admitted
) -> Caller:
    """Answer the hello; the caller every request of this connection is served as."""
    welcome = attrs.evolve(
        policy.welcome,
        id=hello.id,
        protocol=hello.protocol,
        session_token=admitted.session_token,
    )
    # The whole connection speaks the hello's protocol version (docs/protocol.md, "Versions").
    await ws.send_message(encode(welcome, hello.protocol))
    return Caller(name=hello.client, kind=admitted.kind, protocol=hello.protocol)


class _Connection:
    """One authenticated connection: the read loop and the tasks it starts."""

    def __init__(
        self, ws: WebSocketConnection, policy: _Policy, session: Session | None, caller: Caller
    ) -> None:
        self.ws = ws
        self.policy = policy
        self.caller = caller
        #: The browser session this connection belongs to; None for a token holder.
        self.session = session
        self.session_ended = False
        self.slots = trio.Semaphore(policy.max_inflight)
        # Running + waiting requests. A Semaphore, not a CapacityLimiter: the read loop takes
        # a place and the request's task gives it back.
        self.admitted = trio.Semaphore(2 * policy.max_inflight)
        self.subscription: trio.CancelScope | None = None
        self.nursery: trio.Nursery | None = None
        self.budget = ByteBudget(policy.connection_budget)
        self.read_reserve = max(1, policy.max_message_bytes // READ_REPLY_RESERVE_FRACTION)

    async def run(self) -> None:
        """Read frames until the peer leaves, then cancel whatever is still running for it."""
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            if self.session is not None:
                nursery.start_soon(self._end_with_the_session, self.session)
            try:
                while True:
                    raw = await self.ws.get_message()
                    deadline = trio.current_time() + self.policy.overload_wait_s
                    msg = decode_frame(raw)
                    # The request's bytes, plus room for a reply that may be big (reads), are
                    # taken at once: a task that waited for more while holding some could wait
                    # forever on tasks doing the same.
                    held = len(raw) + (self.read_reserve if isinstance(msg, _READS) else 0)
                    del raw  # only the decoded request lives on
                    # Both waits pause reading (TCP then pushes back on the client); both end
                    # as this connection's replies are sent, which a client that does not read
                    # them turns into a disconnection after send_timeout_s.
                    await self.budget.acquire(held)
                    await self.admitted.acquire()
                    nursery.start_soon(self._serve, msg, held, deadline)
            except ConnectionClosed:
                pass
            finally:
                nursery.cancel_scope.cancel()

    async def _serve(self, msg: m.ClientMsg | m.Failed, held: int, deadline: float) -> None:
        try:
            reply = msg if isinstance(msg, m.Failed) else await self._answer(msg, deadline)
            frame = reply_frame(reply, self.policy.max_message_bytes, self.caller.protocol)
            # A refused shutdown (a browser session's) stops nothing.
            shutdown = isinstance(msg, m.Shutdown) and isinstance(reply, m.Ok)
            del reply, msg
            self.budget.charge(len(frame))
            held += len(frame)
            try:
                await self._send(frame)
            finally:
                if shutdown:
                    # Even if the Ok could not be delivered: the request was authenticated.
                    self.policy.backend.request_shutdown()
        finally:
            self.budget.release(held)
            self.admitted.release()

    async def _send(self, frame: str) -> bool:
        """Send one frame; a client that leaves it unread for send_timeout_s is dropped."""
        with trio.move_on_after(self.policy.send_timeout_s):
            return await _send(self.ws, frame)
        log.warning(
            "dropping a client that read nothing for %g s (%d bytes waiting to be sent)",
            self.policy.send_timeout_s,
            self.budget.used,
        )
        # A frame may be half written: no close handshake is possible any more.
        await drop_tcp(self.ws)
        if self.nursery is not None:
            self.nursery.cancel_scope.cancel()
        return False

    async def _answer(self, msg: m.ClientMsg, deadline: float) -> m.Reply:
        if isinstance(msg, m.Hello):
            message = "hello was already received on this connection"
            return fail(msg.id, ErrorCode.BAD_REQUEST, message)
        if isinstance(msg, m.Subscribe | m.Unsubscribe | m.Shutdown):
            # Control messages never reach the backend's queues, so they need no slot.
            return await self._dispatch(msg)
        got_slot = False
        with trio.move_on_at(deadline):
            await self.slots.acquire()
            got_slot = True
        if not got_slot:
            message = (
                f"too many requests in flight on this connection (limit "
                f"{self.policy.max_inflight}); retry later or use another connection"
            )
            return fail(msg.id, ErrorCode.OVERLOADED, message)
        try:
            return await self._dispatch(msg)
        finally:
            self.slots.release()

    async def _end_with_the_session(self, session: Session) -> None:
        """Close this connection when its browser session ends (idle or too old)."""
        while (left := session.seconds_left()) > 0:  # noqa: ASYNC110 - a deadline, not a poll
            await trio.sleep(left)  # a request meanwhile moves the end: look again then
        self.session_ended = True
        await self._send(encode(fail(None, ErrorCode.UNAUTHORIZED, session.why_ended())))
        assert self.nursery is not None
        self.nursery.cancel_scope.cancel()

    async def _dispatch(self, request: m.Request) -> m.Reply:
        if self.session is not None:
            if self.session.ended():
                # Between the session's end and its watchdog's wake-up: refused all the same.
                return fail(request.id, ErrorCode.UNAUTHORIZED, self.session.why_ended())
            self.session.touch()
        try:
            if isinstance(request, m.Subscribe):
                await self._subscribe()
                return m.Ok(id=request.id)
            if isinstance(request, m.Unsubscribe):
                if self.subscription is not None:
                    self.subscription.cancel()
                    self.subscription = None
                return m.Ok(id=request.id)
            if self.session is not None:
                # What a browser session may do (shutdown: nothing) is the browser policy's.
                reply = await self.policy.browser.handle(self.session, request, self._handle)
            elif isinstance(request, m.Shutdown):
                return m.Ok(id=request.id)
            else:
                reply = await self._handle(request)
        except ServiceError as exc:
            return fail(request.id, exc.code, exc.message, exc.detail)
        except Exception as exc:
            log.exception("%s request failed", type(request).__name__)
            message = f"internal error: {type(exc).__name__}: {exc}"
            return fail(request.id, ErrorCode.INTERNAL, message)
        if reply.id != request.id:  # a wrong id would leave the caller waiting forever
            reply = attrs.evolve(reply, id=request.id)
        return reply

    async def _handle(self, request: m.Request) -> m.Reply:
        return await self.policy.backend.handle(request, self.caller)

    async def _subscribe(self) -> None:
        if self.subscription is not None:
            return  # already subscribed: idempotent
        assert self.nursery is not None
        scope = self.subscription = trio.CancelScope()  # claimed before the checkpoint below
        try:
            # start(): the backend subscription exists before the client gets its Ok, so no
            # change committed after that Ok can be missed.
            await self.nursery.start(self._forward_events, scope)
        except BaseException:
            if self.subscription is scope:
                self.subscription = None
            raise

    async def _forward_events(
        self, scope: trio.CancelScope, *, task_status: trio.TaskStatus[None]
    ) -> None:
        try:
            with scope, self.policy.backend.subscribe() as events:
                task_status.started()
                try:
                    async for event in events:
                        if not await self._send(event_frame(event, self.caller.protocol)):
                            return
                except trio.ClosedResourceError:
                    # The backend closed our end: the daemon is stopping (see Backend.subscribe).
                    message = "event subscription ended: the daemon is stopping"
                    code = ErrorCode.SHUTTING_DOWN
                else:
                    # The backend closed its end: this subscriber fell too far behind.
                    message = "event subscription dropped: events were read too slowly; resubscribe"
                    code = ErrorCode.OVERLOADED
                await self._send(encode(fail(None, code, message)))
        finally:
            if self.subscription is scope:
                self.subscription = None
