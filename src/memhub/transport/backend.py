"""What the websocket server needs from the daemon behind it.

The server knows frames, connections and limits; the backend knows memories. Keeping this
seam as a small protocol lets the transport be tested against a toy backend and lets the
daemon be driven by anything that speaks it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

import trio

from memhub.protocol import messages as m

if TYPE_CHECKING:
    from memhub.credentials import Caller


class Backend(Protocol):
    """The daemon as the transport sees it."""

    async def handle(self, request: m.Request, caller: Caller) -> m.Reply:
        """Serve one request of ``caller`` (never ``Subscribe``/``Unsubscribe``: the server
        does those).

        Raises:
            ServiceError: any expected failure; the server turns it into a ``Failed`` reply.
        """
        ...

    def subscribe(self) -> AbstractContextManager[trio.MemoryReceiveChannel[m.Event]]:
        """A bounded channel of every committed change, closed when the context exits.

        The daemon ends a subscription in one of two ways, which the server tells apart:

        * a subscriber that falls too far behind has the *sending* end closed (the channel
          ends after what it holds): the client gets ``Failed(code="overloaded")``;
        * when the daemon stops, the *receiving* end is closed (reading it raises
          ``trio.ClosedResourceError``): the client gets ``Failed(code="shutting_down")``.
        """
        ...

    def connection_opened(self, caller: Caller) -> None: ...

    def connection_closed(self, caller: Caller) -> None: ...

    def request_shutdown(self) -> None:
        """Begin a graceful stop (``Shutdown`` request or ``memhub stop``)."""
        ...
