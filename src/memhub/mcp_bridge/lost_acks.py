"""A retried write that failed because its own first attempt had succeeded: the lost success.

:class:`~memhub.mcp_bridge.connection.DaemonLink` sends a request again when the connection was
lost after sending it, and the daemon may have committed the first attempt before it died (its
ack was sent after the commit, and lost with the connection). The retry of a store then meets
the memory the first attempt stored: the daemon answers ``duplicate`` (exact, naming that
hash); a retried session meets its own chunks. The link settles such an answer here, once, so
that every client of the link (the MCP tools, ``memhub ui``, anything else) sees the success
that happened rather than a failure:

* a store whose retry is an exact duplicate of the hash of the content we sent, of a memory
  created after our first send, was committed by that first send: the delivery becomes the
  ``Stored`` reply that was lost, with that hash;
* a session whose retry is a duplicate, and whose chunks (found by the session id the client
  chose) were created after our first send, was committed too: ``SessionStored``.

A memory created before our first send was there already: the first attempt was refused the
same way, and the ``duplicate`` stands. So does a semantic duplicate (of another memory).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

import attrs

from memhub.domain.hashing import content_hash
from memhub.domain.sessions import session_id_of
from memhub.errors import Duplicate
from memhub.mcp_bridge.calls import Delivery
from memhub.protocol import messages as m

CLOCK_SLACK_S: Final = 1.0
"""How much earlier than our first send a memory may be dated and still count as ours.

The daemon runs on this machine and stamps ``created_at`` when it commits, after our send; the
slack only absorbs float rounding and clock steps. A memory older than that existed before we
asked, so a duplicate error about it is genuine."""

Call = Callable[[m.Request], Awaitable[Delivery]]


async def settle(call: Call, request: m.Request, delivery: Delivery) -> Delivery:
    """``delivery``, or the success it hides if its failure was caused by our own first attempt.

    ``call`` sends a follow-up read (the link's own delivery, retries included).
    """
    if not delivery.ambiguous or not isinstance(delivery.error, Duplicate):
        return delivery
    if isinstance(request, m.Store):
        return await _settle_store(call, request, delivery, delivery.error)
    if isinstance(request, m.StoreSession) and request.session_id:
        return await _settle_session(call, request, delivery)
    return delivery


async def _settle_store(
    call: Call, request: m.Store, delivery: Delivery, duplicate: Duplicate
) -> Delivery:
    ours = content_hash(request.content)
    detail = duplicate.detail or {}
    if detail.get("kind") != "exact" or detail.get("content_hash") != ours:
        return delivery  # a duplicate of another memory: not our own echo
    found = await call(m.Get(id=0, content_hash=ours))
    if not isinstance(found.reply, m.Found):
        return delivery
    memory = found.reply.memory
    if memory.created_at < delivery.sent_at - CLOCK_SLACK_S or memory.store != request.store:
        return delivery  # it was there before we first sent (or elsewhere): a real duplicate
    stored = m.Stored(
        id=request.id,
        content_hash=ours,
        memory_type=memory.memory_type,
        created_at=memory.created_at,
    )
    return attrs.evolve(delivery, reply=stored, error=None)


async def _settle_session(call: Call, request: m.StoreSession, delivery: Delivery) -> Delivery:
    assert request.session_id is not None
    try:
        # The daemon stores the id it was given in this form, and reports a duplicate only
        # after validating it, so this succeeds whenever a duplicate came back.
        session_id = session_id_of(request.session_id)
    except ValueError:
        return delivery
    page = await call(
        m.ListMemories(id=0, page_size=100, tags=[f"session:{session_id}"], store=request.store)
    )
    if not isinstance(page.reply, m.Page):
        return delivery
    since = delivery.sent_at - CLOCK_SLACK_S
    mine = [memory for memory in page.reply.memories if memory.created_at >= since]
    if not mine:
        return delivery
    mine.sort(key=lambda memory: int(memory.metadata.get("chunk_index", 0) or 0))
    stored = m.SessionStored(
        id=request.id,
        session_id=session_id,
        content_hashes=[memory.content_hash for memory in mine],
        turns=len(request.turns),
    )
    return attrs.evolve(delivery, reply=stored, error=None)
