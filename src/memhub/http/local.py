"""The daemon as the MCP tools see it, in process: :class:`~memhub.mcp_bridge.calls.Daemon` over
:meth:`MemoryService.handle <memhub.service.MemoryService.handle>`.

The bridge reaches the service over a websocket; an HTTP MCP client reaches the same service
through this class, with the same request and reply values, so the writes go through the
writer actor like any other (group commit, ack after commit, events naming the client). Each
MCP session is one :class:`~memhub.credentials.Caller`, named after the client's
``clientInfo.name``, opened when the session first calls and closed when it ends.

The caller's HTTP identity decides, per request, what it may do: a read needs scope ``read``,
a write ``write`` (:func:`memhub.http.scopes.needed_scope`; the tool's own scope, 12.4's rule,
is checked before the tool runs, by the endpoint).
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import TYPE_CHECKING, Final

import attrs

from memhub.credentials import Caller
from memhub.errors import InternalError, ServiceError, Unauthorized
from memhub.http.auth import Identity
from memhub.http.scopes import needed_scope
from memhub.mcp_bridge.calls import BridgeStats, Delivery
from memhub.protocol import messages as m

if TYPE_CHECKING:
    from memhub.service import MemoryService

log = logging.getLogger(__name__)

UNNAMED_CLIENT: Final = "mcp-http-client"
SCOPE_REFUSAL: Final = "Insufficient scope: this tool requires '{op}' access"
_ids = itertools.count(1)


def client_name(raw: str | None) -> str:
    """A client's self-chosen name as the client list and events show it (as the bridge does)."""
    name = "".join(ch for ch in (raw or "") if ch.isprintable()).strip()[:64]
    return name or UNNAMED_CLIENT


class LocalDaemon:
    """One caller's requests, answered by the service in this process."""

    def __init__(self, service: MemoryService, caller: Caller) -> None:
        self.service = service
        self.caller = caller
        self.calls = 0
        self.last_used = time.monotonic()

    def as_seen_by(self, identity: Identity | None) -> AuthorizedDaemon:
        """This caller's daemon for one HTTP request made with ``identity``."""
        return AuthorizedDaemon(self, identity)

    async def call(self, request: m.Request, identity: Identity | None) -> Delivery:
        """Serve one request; failures come back in the Delivery (never ambiguous: in process,
        a request is either answered or was never run)."""
        self.calls += 1
        self.last_used = time.monotonic()
        sent_at = time.time()
        op = needed_scope(request)
        if op is None:
            error: ServiceError = Unauthorized(f"{type(request).__name__} is not served over HTTP")
            return Delivery(error=error, sent_at=sent_at)
        if identity is None or not identity.may(op):
            error = Unauthorized(SCOPE_REFUSAL.format(op=op))
            return Delivery(error=error, sent_at=sent_at)
        request = attrs.evolve(request, id=next(_ids))
        try:
            reply = await self.service.handle(request, self.caller)
        except ServiceError as exc:
            return Delivery(error=exc, sent_at=sent_at)
        except Exception as exc:
            # What the websocket server does at its per-request boundary.
            log.exception("%s request failed", type(request).__name__)
            error = InternalError(f"internal error: {type(exc).__name__}: {exc}")
            return Delivery(error=error, sent_at=sent_at)
        return Delivery(reply=reply, sent_at=sent_at)

    def statistics(self) -> BridgeStats:
        # The session is the "connection": opened once, every later call a hit.
        connects = 1 if self.calls else 0
        return BridgeStats(tool_calls=self.calls, connects=connects, connect_times_ms=())


@attrs.frozen
class AuthorizedDaemon:
    """A :class:`~memhub.mcp_bridge.calls.Daemon` for one request: the session's caller with
    the identity of *that* request (a session id is no credential of its own, and two requests
    of one session may carry different ones)."""

    local: LocalDaemon
    identity: Identity | None

    async def call(self, request: m.Request) -> Delivery:
        return await self.local.call(request, self.identity)

    def statistics(self) -> BridgeStats:
        return self.local.statistics()


class SessionCallers:
    """The callers of the MCP endpoint: one per session, or per client name without one.

    Requests of the 2026-07-28 protocol carry no session; they share one caller per client
    name. A caller unused for ``idle_s`` (the SDK's session idle timeout) is closed by
    :meth:`sweep`; a session deleted by its client is closed at once (:meth:`end`).
    """

    def __init__(self, service: MemoryService, *, idle_s: float) -> None:
        self.service = service
        self.idle_s = idle_s
        self._callers: dict[tuple[str | None, str], LocalDaemon] = {}

    def __len__(self) -> int:
        return len(self._callers)

    def daemon_for(
        self, session_id: str | None, raw_name: str | None, identity: Identity | None
    ) -> AuthorizedDaemon:
        name = client_name(raw_name)
        key = (session_id, name if session_id is None else "")
        daemon = self._callers.get(key)
        if daemon is None:
            daemon = LocalDaemon(self.service, Caller(name=name, kind="token"))
            self._callers[key] = daemon
            self.service.connection_opened(daemon.caller)
        elif session_id is not None and daemon.caller.name != name:
            daemon.caller.name = name  # initialize came after an early request
        daemon.last_used = time.monotonic()
        return daemon.as_seen_by(identity)

    def end(self, session_id: str) -> None:
        daemon = self._callers.pop((session_id, ""), None)
        if daemon is not None:
            self.service.connection_closed(daemon.caller)

    def sweep(self, now: float | None = None) -> int:
        """Close the callers idle past ``idle_s``; how many were closed."""
        now = time.monotonic() if now is None else now
        stale = [k for k, d in self._callers.items() if now - d.last_used > self.idle_s]
        for key in stale:
            self.service.connection_closed(self._callers.pop(key).caller)
        return len(stale)

    def close_all(self) -> None:
        for daemon in self._callers.values():
            self.service.connection_closed(daemon.caller)
        self._callers.clear()
