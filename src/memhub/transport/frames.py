"""Frames in and out of a connection: decoding requests, encoding replies and events.

Encoding never fails a whole reply over one memory: metadata no frame can carry is shown as a
marker (readers already do this; here is the net under every other path), and a reply over the
message limit becomes ``too_large`` rather than costing the client its connection.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import attrs

from memhub import PROTOCOL_VERSION
from memhub.errors import BadRequest, ErrorCode
from memhub.protocol import messages as m
from memhub.protocol.codec import decode_client, encode
from memhub.protocol.limits import metadata_problem, unreadable_metadata

log = logging.getLogger(__name__)


def decode_frame(raw: str | bytes) -> m.ClientMsg | m.Failed:
    try:
        return decode_client(raw)
    except BadRequest as exc:
        return bad_frame(exc)


def reply_frame(reply: m.Reply, limit: int, protocol: int = PROTOCOL_VERSION) -> str:
    """Encode a reply; a reply that cannot be encoded or is too big becomes an error reply."""
    try:
        frame = encode(reply, protocol)
    except Exception as exc:
        try:
            # Readers already mark unencodable metadata; this is the net under any other path.
            frame = encode(_with_encodable_memories(reply), protocol)
            log.warning("a %s reply carried unencodable metadata: %s", type(reply).__name__, exc)
        except Exception:
            log.exception("cannot encode a %s reply", type(reply).__name__)
            message = f"internal error: the reply cannot be encoded: {exc}"
            return encode(fail(reply.id, ErrorCode.INTERNAL, message), protocol)
    # Clients default to the daemon's limit: a bigger frame would cost the whole connection.
    # len(str) * 4 bounds the UTF-8 size, so most frames skip the encode.
    if len(frame) * 4 > limit and (size := len(frame.encode())) > limit:
        message = (
            f"the reply is {size} bytes, over the {limit}-byte message limit; ask for less "
            "(a smaller page_size or limit)"
        )
        detail = {"size": size, "limit": limit}
        return encode(fail(reply.id, ErrorCode.TOO_LARGE, message, detail), protocol)
    return frame


def _encodable(record: m.MemoryRecord) -> m.MemoryRecord:
    problem = metadata_problem(record.metadata)
    if problem is None:
        return record
    return attrs.evolve(record, metadata=unreadable_metadata(problem))


def _with_encodable_memories(reply: m.Reply) -> m.Reply:
    """``reply`` with every memory whose metadata no frame can carry shown with a marker."""
    if isinstance(reply, m.Found):
        return attrs.evolve(reply, memory=_encodable(reply.memory))
    if isinstance(reply, m.Page):
        return attrs.evolve(reply, memories=[_encodable(r) for r in reply.memories])
    if isinstance(reply, m.SearchResult):
        hits = [attrs.evolve(h, memory=_encodable(h.memory)) for h in reply.hits]
        return attrs.evolve(reply, hits=hits)
    return reply


def event_frame(event: m.Event, protocol: int = PROTOCOL_VERSION) -> str:
    """Encode an event; a memory no frame can carry goes out with a marker as its metadata.

    The writer's record of an update merges into the stored metadata, which a legacy writer
    may have nested too deep: that must cost the subscriber one detail, never its connection.
    """
    try:
        return encode(event, protocol)
    except Exception as exc:
        log.warning("event for %s cannot be encoded as is: %s", event.content_hash, exc)
        reason = str(exc)
    if event.memory is not None:
        problem = metadata_problem(event.memory.metadata) or f"it cannot be encoded ({reason})"
        memory = attrs.evolve(event.memory, metadata=unreadable_metadata(problem))
        with contextlib.suppress(Exception):
            return encode(attrs.evolve(event, memory=memory), protocol)
    return encode(attrs.evolve(event, memory=None), protocol)


def fail(
    request_id: int | None, code: ErrorCode, message: str, detail: dict[str, Any] | None = None
) -> m.Failed:
    return m.Failed(id=request_id, code=code.value, message=message, detail=detail)


def bad_frame(exc: BadRequest) -> m.Failed:
    return fail(exc.request_id, exc.code, exc.message, exc.detail)
