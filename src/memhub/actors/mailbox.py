"""Request/reply between tasks: a request carries a size-1 reply channel holding an outcome.

The caller waits on its reply channel; the actor answers with ``send_nowait`` so answering never
blocks the actor's loop. If the caller has gone (cancelled, timed out), its end of the channel
is closed and the answer is dropped quietly: the work itself (a committed write) stands.
"""

from __future__ import annotations

import contextlib
from typing import Generic, TypeVar

import attrs
import outcome
import trio

from memhub.errors import ShuttingDown

Req = TypeVar("Req")
Res = TypeVar("Res")


@attrs.frozen
class Call(Generic[Req, Res]):
    """One request in an actor's inbox, with where to put the answer."""

    request: Req
    reply: trio.MemorySendChannel[outcome.Outcome[Res]]


async def ask(inbox: trio.MemorySendChannel[Call[Req, Res]], request: Req) -> Res:
    """Send a request and wait for its answer (re-raising the actor's exception).

    A full inbox blocks the caller: that is the backpressure path.
    """
    reply_send, reply_recv = trio.open_memory_channel[outcome.Outcome[Res]](1)
    with reply_recv:
        try:
            await inbox.send(Call(request, reply_send))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise ShuttingDown("memhub is shutting down") from None
        try:
            result = await reply_recv.receive()
        except trio.EndOfChannel:
            raise ShuttingDown("memhub stopped before answering") from None
        return result.unwrap()


def answer(call: Call[Req, Res], result: outcome.Outcome[Res]) -> None:
    """Deliver an answer without blocking; closing the channel means a forgotten reply can
    never hang the caller (it sees EndOfChannel)."""
    with call.reply, contextlib.suppress(trio.BrokenResourceError):
        call.reply.send_nowait(result)


def drain_nowait(
    inbox: trio.MemoryReceiveChannel[Call[Req, Res]], first: Call[Req, Res], limit: int
) -> list[Call[Req, Res]]:
    """``first`` plus whatever is already queued, up to ``limit`` calls, without waiting.

    This is the group-commit rule: a lone request goes at once; requests that queued up while
    the previous batch ran go together.
    """
    batch = [first]
    while len(batch) < limit:
        try:
            batch.append(inbox.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            break
    return batch
