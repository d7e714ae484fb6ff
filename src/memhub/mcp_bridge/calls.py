"""What the tool handlers share: the daemon as they see it, and what one call returns.

Retries happen below the tools (:mod:`memhub.mcp_bridge.connection`). When the connection is
lost after a request was sent, the daemon may or may not have executed it, and the retry can
then fail *because* the first attempt succeeded. :class:`Delivery` says when that can be the
case (``ambiguous``); the link turns a retried store's or session's ``duplicate`` back into the
success it hides (:mod:`memhub.mcp_bridge.lost_acks`), and the delete handler weighs a retried
delete that found nothing.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

import attrs

from memhub.errors import ServiceError
from memhub.protocol import messages as m

R = TypeVar("R", bound=m.Reply)


@attrs.frozen(kw_only=True)
class Delivery:
    """What became of one request, retries included.

    Attributes:
        reply: the daemon's answer, or None if the request failed.
        error: the failure, or None.
        ambiguous: an attempt before the last one may have been executed by the daemon (its
            connection was lost after sending), so ``error`` may be a consequence of it.
        sent_at: wall-clock time just before the first attempt was sent.
    """

    reply: m.Reply | None = None
    error: ServiceError | None = None
    ambiguous: bool = False
    sent_at: float = 0.0

    def unwrap(self) -> m.Reply:
        """The reply, or raise the error."""
        if self.error is not None:
            raise self.error
        assert self.reply is not None
        return self.reply


@attrs.frozen(kw_only=True)
class BridgeStats:
    """Counters of one bridge's use of the daemon (for ``memory_stats``)."""

    tool_calls: int
    connects: int
    connect_times_ms: tuple[float, ...]


class Daemon(Protocol):
    """The daemon as the tools see it (:class:`~memhub.mcp_bridge.connection.DaemonLink`)."""

    async def call(self, request: m.Request) -> Delivery:
        """Send one request (the id is assigned below), retrying what is safe to retry."""
        ...

    def statistics(self) -> BridgeStats:
        """Counters for ``memory_stats``."""
        ...


@attrs.frozen
class ToolResult:
    """The single text a tool returns, and whether it reports a failure."""

    text: str
    is_error: bool = False


def fail(text: str) -> ToolResult:
    return ToolResult(text, is_error=True)


def expect(reply: m.Reply, kind: type[R]) -> R:
    """``reply`` as the kind of reply its request gets; anything else is a daemon bug."""
    if not isinstance(reply, kind):
        raise ServiceError(f"unexpected reply {type(reply).__name__} from the daemon")
    return reply
