"""Who is connected: the callers the transport admitted, and what only some of them may do.

The web UI's client list and the writer named in each event come from here; browser tickets are
issued only to callers holding the daemon's master token (see :mod:`memhub.credentials`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from memhub.credentials import TICKET_TTL_S
from memhub.errors import Unauthorized
from memhub.protocol import messages as m

if TYPE_CHECKING:
    from memhub.credentials import Caller, Credentials


class Callers:
    """The connected callers, oldest first, and the daemon's activity clock."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self._callers: dict[Caller, None] = {}  # insertion-ordered set: oldest first
        self.last_activity = time.monotonic()

    def __len__(self) -> int:
        return len(self._callers)

    def opened(self, caller: Caller) -> None:
        self._callers[caller] = None
        self.last_activity = time.monotonic()

    def closed(self, caller: Caller) -> None:
        self._callers.pop(caller, None)
        self.last_activity = time.monotonic()

    def issue_ticket(self, req: m.IssueTicket, caller: Caller) -> m.Ticket:
        if caller.kind != "token":
            raise Unauthorized("only a client holding the daemon's token may issue tickets")
        return m.Ticket(
            id=req.id, ticket=self.credentials.issue_ticket(), expires_in_s=TICKET_TTL_S
        )

    def listing(self, req: m.ListClients) -> m.Clients:
        clients = [
            m.ClientInfo(
                name=c.name,
                kind=c.kind,
                connected_at=c.connected_at,
                requests=c.requests,
                in_flight=c.in_flight,
            )
            for c in self._callers
        ]
        return m.Clients(id=req.id, clients=clients)
