"""Who is on the other end of a connection: credentials for browsers, and the caller record.

A browser must never see the master token (it sits in a file only the user can read). Instead
``memhub ui`` trades the master token for a **ticket**: random, single use, valid for
:data:`TICKET_TTL_S`. The page trades the ticket in its ``hello`` for a **session token** it keeps
in ``sessionStorage`` (one per tab) and reconnects with. Session tokens live as long as the daemon.

The transport makes a :class:`Caller` once a hello is accepted and hands it to the service with
every request of that connection (to name the writer in events and to keep ticket issuing to
master-token clients) without the wire carrying it.
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Final, Literal

import attrs

TICKET_TTL_S: Final = 60.0
TICKET_PREFIX: Final = "ticket-"
SESSION_PREFIX: Final = "session-"
MAX_PENDING_TICKETS: Final = 64
MAX_SESSIONS: Final = 1024

Kind = Literal["token", "browser"]


@attrs.define(kw_only=True, eq=False)
class Caller:
    """One accepted connection, mutated as its requests come and go."""

    name: str
    kind: Kind
    protocol: int = 2  # the protocol version the connection speaks (its hello's)
    connected_at: float = attrs.field(factory=time.time)
    requests: int = 0
    in_flight: int = 0


@attrs.frozen
class Admitted:
    """A hello's token was accepted. ``session_token`` is set when a ticket was redeemed."""

    kind: Kind
    session_token: str | None = None


@attrs.frozen
class Refused:
    """A hello's token was refused; ``message`` tells the person what to do."""

    message: str


class Credentials:
    """The master token plus the tickets and session tokens handed to browsers."""

    def __init__(self, master_token: str) -> None:
        self.master_token = master_token  # for the runtime file, which only the user can read
        self._master = master_token.encode()
        self._tickets: dict[str, float] = {}  # ticket -> expiry (monotonic)
        self._sessions: set[str] = set()

    def issue_ticket(self) -> str:
        """A new one-time ticket; the oldest pending ones are forgotten past a small bound."""
        now = time.monotonic()
        self._tickets = {t: exp for t, exp in self._tickets.items() if exp > now}
        while len(self._tickets) >= MAX_PENDING_TICKETS:
            self._tickets.pop(next(iter(self._tickets)))
        ticket = TICKET_PREFIX + secrets.token_urlsafe(32)
        self._tickets[ticket] = now + TICKET_TTL_S
        return ticket

    def admit(self, token: str) -> Admitted | Refused:
        """Check a hello's token: the master token, a fresh ticket, or a session token."""
        if hmac.compare_digest(token.encode(), self._master):
            return Admitted("token")
        if token.startswith(TICKET_PREFIX):
            expiry = self._tickets.pop(token, None)  # single use: gone whatever happens next
            if expiry is None or expiry < time.monotonic():
                return Refused(
                    "this memhub link was already used or has expired (links work once, "
                    f"within {TICKET_TTL_S:g} s): run `memhub ui` again"
                )
            if len(self._sessions) >= MAX_SESSIONS:
                self._sessions.pop()
            session = SESSION_PREFIX + secrets.token_urlsafe(32)
            self._sessions.add(session)
            return Admitted("browser", session_token=session)
        if token.startswith(SESSION_PREFIX):
            if token in self._sessions:
                return Admitted("browser")
            return Refused(
                "this browser session is no longer valid (the daemon restarted): "
                "run `memhub ui` again"
            )
        return Refused("wrong token: read it from the daemon's runtime file (<db>.memhub.json)")
