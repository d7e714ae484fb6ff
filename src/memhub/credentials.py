"""Who is on the other end of a connection: credentials for browsers, and the caller record.

A browser must never see the master token (it sits in a file only the user can read). Instead
``memhub ui`` trades the master token for a **ticket**: random, single use, valid for
:data:`TICKET_TTL_S`. The page trades the ticket in its ``hello`` for a **session token** it keeps
in ``sessionStorage`` (one per tab) and reconnects with.

A session is a :class:`Session`: it ends :data:`SESSION_IDLE_S` after its last request (the page
asks for the daemon's health every 2 s while it is open, so only a closed or frozen tab goes
idle) and :data:`SESSION_LIFETIME_S` after its ticket was redeemed, whatever it does; the
transport closes a connection whose session ends. What a session may do is less than a token
holder: see :mod:`memhub.transport.browser`.

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
#: A browser session ends this long after its last request (a tab closed, a laptop asleep).
SESSION_IDLE_S: Final = 30 * 60.0
#: ...and this long after it began, in use or not: a stolen session token is worth a day at most.
SESSION_LIFETIME_S: Final = 12 * 3600.0

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


@attrs.define(eq=False)
class Session:
    """One browser session: when it began and when it was last used (monotonic seconds)."""

    token: str = attrs.field(repr=False)
    idle_s: float
    lifetime_s: float
    started: float = attrs.field(factory=lambda: time.monotonic())
    last_used: float = attrs.field(default=0.0)

    def __attrs_post_init__(self) -> None:
        self.last_used = self.started

    def ends_at(self) -> float:
        """When the session ends unless it is used again (monotonic seconds)."""
        return min(self.started + self.lifetime_s, self.last_used + self.idle_s)

    def seconds_left(self) -> float:
        return self.ends_at() - time.monotonic()

    def ended(self) -> bool:
        return self.seconds_left() <= 0

    def touch(self) -> None:
        """A request on the session: it is in use."""
        if not self.ended():
            self.last_used = time.monotonic()

    def why_ended(self) -> str:
        """What to tell the page once the session has ended."""
        if time.monotonic() >= self.started + self.lifetime_s:
            cause = f"browser sessions last at most {self.lifetime_s / 3600:g} h"
        else:
            cause = f"it was not used for {self.idle_s / 60:g} min"
        return f"this browser session has ended ({cause}): run `memhub ui` again"


@attrs.frozen
class Admitted:
    """A hello's token was accepted. ``session_token`` is set when a ticket was redeemed;
    ``session`` is the browser session the token belongs to (None for the master token)."""

    kind: Kind
    session_token: str | None = None
    session: Session | None = attrs.field(default=None, eq=False)


@attrs.frozen
class Refused:
    """A hello's token was refused; ``message`` tells the person what to do."""

    message: str


class Credentials:
    """The master token plus the tickets and session tokens handed to browsers."""

    def __init__(
        self,
        master_token: str,
        *,
        session_idle_s: float = SESSION_IDLE_S,
        session_lifetime_s: float = SESSION_LIFETIME_S,
    ) -> None:
        self.master_token = master_token  # for the runtime file, which only the user can read
        self._master = master_token.encode()
        self._tickets: dict[str, float] = {}  # ticket -> expiry (monotonic)
        self._sessions: dict[str, Session] = {}  # insertion-ordered: the oldest comes first
        self._idle_s = session_idle_s
        self._lifetime_s = session_lifetime_s

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
            self._forget_ended()
            while len(self._sessions) >= MAX_SESSIONS:
                self._sessions.pop(next(iter(self._sessions)))
            token = SESSION_PREFIX + secrets.token_urlsafe(32)
            session = Session(token, idle_s=self._idle_s, lifetime_s=self._lifetime_s)
            self._sessions[token] = session
            return Admitted("browser", session_token=token, session=session)
        if token.startswith(SESSION_PREFIX):
            known = self._sessions.get(token)
            if known is not None and known.ended():
                del self._sessions[token]
                return Refused(known.why_ended())
            if known is not None:
                known.touch()
                return Admitted("browser", session=known)
            return Refused(
                "this browser session is no longer valid (the daemon restarted): "
                "run `memhub ui` again"
            )
        return Refused("wrong token: read it from the daemon's runtime file (<db>.memhub.json)")

    def _forget_ended(self) -> None:
        for token in [t for t, session in self._sessions.items() if session.ended()]:
            del self._sessions[token]
