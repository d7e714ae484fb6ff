"""12.4's mistake notes and session counters: read-modify-writes of a memory's metadata.

A mistake note is an ordinary memory of type ``mistake`` tagged ``mistake-note,error-replay``
whose content is four lines; seeing the same mistake again bumps its ``failure_count``,
``confidence``, ``frustration_score`` and ``is_avoid_rule`` (12.4's formulas). Each bump runs as
one write call (read the metadata, write the bumped values) so two clients reporting the same
mistake at once both count.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Final

from memhub.domain.hashing import content_hash
from memhub.errors import BadRequest, Duplicate
from memhub.protocol import messages as m
from memhub.storage.model import DEFAULT_STORE, Filters, NewMemory

if TYPE_CHECKING:
    from memhub.service import MemoryService
    from memhub.storage.engine import WriteTxn

MISTAKE_TYPE: Final = "mistake"
MISTAKE_TAGS: Final = ["mistake-note", "error-replay"]
EMPTY_REMEDIATION: Final = (
    "correct_action must not be empty — a mistake note requires a remediation, "
    "not just an error pattern"
)
COUNTER_TAGS: Final = ["session-counter", "internal"]


def note_content(pattern: str, context: str, wrong: str, right: str) -> str:
    """12.4's four-line content of a mistake note."""
    return f"Pattern: {pattern}\nContext: {context}\nWrong: {wrong}\nRight: {right}"


def _number(value: object, default: float) -> float:
    """A metadata number another writer may have stored as anything."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value) if math.isfinite(value) else default


def bumped(meta: dict[str, Any], req: m.MistakeNoteAdd) -> dict[str, Any]:
    """12.4's bump of a note seen again (``services/memory_service.py`` mistake_note_add)."""
    count = meta.get("failure_count", 1)
    failures = (count if isinstance(count, int) and not isinstance(count, bool) else 1) + 1
    confidence = min(
        1.0, _number(meta.get("confidence"), 0.5) + req.learning_rate * req.error_weight
    )
    frustration = _number(meta.get("frustration_score"), 0.0) + 1.0
    return {
        "failure_count": failures,
        "confidence": confidence,
        "frustration_score": frustration,
        "is_avoid_rule": frustration >= req.frustration_threshold,
    }


def _bump(txn: WriteTxn, target: str, req: m.MistakeNoteAdd) -> m.MistakeNoted | None:
    found = txn.get(target)
    if found is None:
        return None
    values = bumped(found.metadata, req)
    txn.update(target, tags=None, memory_type=None, metadata=values, preserve_timestamps=False)
    return m.MistakeNoted(
        id=req.id, status="updated", content_hash=target, failure_count=values["failure_count"]
    )


async def add(svc: MemoryService, req: m.MistakeNoteAdd, client: str) -> m.MistakeNoted:
    if not req.correct_action.strip():
        raise BadRequest(EMPTY_REMEDIATION)
    rules = svc.rules
    content = rules.content(
        note_content(
            req.error_pattern, req.context_signature, req.incorrect_action, req.correct_action
        )
    )
    if not 0.0 <= req.dedup_threshold <= 1.0:
        raise BadRequest("the mistake-note dedup threshold must be between 0 and 1")
    query = f"{req.error_pattern} {req.context_signature}"
    metadata: dict[str, Any] = {
        "failure_count": 1,
        "confidence": 0.5,
        "frustration_score": 1.0,
        "is_avoid_rule": False,
    }
    if req.agent_id:
        metadata["agent_id"] = rules.pattern("agent_id", req.agent_id)
    query_vector, vector = await svc.embedder.embed([query, content])
    # 12.4 searches the default store for the 3 nearest mistake notes (its type filter runs
    # after a cut of 53 rows; memhub filters first, so a note is never missed for that).
    hits = await svc.readers.submit(
        lambda snap: snap.semantic_search(
            query_vector, Filters(memory_type=MISTAKE_TYPE, store=DEFAULT_STORE), 3
        )
    )
    similar = next((h.memory.content_hash for h in hits if h.score >= req.dedup_threshold), None)
    item = NewMemory(
        content=content,
        content_hash=content_hash(content),
        tags=list(MISTAKE_TAGS),
        memory_type=MISTAKE_TYPE,
        metadata=metadata,
        vector=vector,
    )

    def write(txn: WriteTxn) -> m.MistakeNoted:
        if similar is not None and (done := _bump(txn, similar, req)) is not None:
            return done
        try:
            txn.store(item)
        except Duplicate as exc:
            # A store refused as a duplicate (exact, or semantically close to any memory of
            # the default store) bumps the memory it duplicates, as 12.4 does; nothing of the
            # refused store was written (the checks run before any insert).
            existing = (exc.detail or {}).get("content_hash")
            if isinstance(existing, str) and (done := _bump(txn, existing, req)) is not None:
                return done
            raise
        return m.MistakeNoted(
            id=req.id, status="created", content_hash=item.content_hash, failure_count=1
        )

    return await svc.writer.submit(write, client=client)


def counter_content(agent_id: str) -> str:
    return f"__session_counter_{agent_id}"


async def bump_session_counter(svc: MemoryService, req: m.BumpSessionCounter, client: str) -> m.Ok:
    """12.4's ``_increment_session_counter``: ``session_count`` + 1, or a new counter at 1.

    12.4 finds the counter by a semantic top-1 search, which can land on another agent's
    counter; memhub finds it by its exact content (the counter's hash), in the same write.
    """
    agent = svc.rules.pattern("agent_id", req.agent_id)
    content = svc.rules.content(counter_content(agent))
    key = content
    vector = (await svc.embedder.embed([content]))[0]
    item = NewMemory(
        content=content,
        content_hash=content_hash(content),
        tags=list(COUNTER_TAGS),
        memory_type="observation",
        metadata={
            "counter_key": key,
            "session_count": 1,
            "agent_id": agent,
            "observation_type": "session_legacy",
            "source": "observation",
        },
        vector=vector,
        skip_semantic_dedup=True,  # one counter per agent, however alike their names
    )

    def write(txn: WriteTxn) -> None:
        found = txn.get(item.content_hash)
        if found is None:
            txn.store(item)
            return
        count = found.metadata.get("session_count", 0)
        count = count if isinstance(count, int) and not isinstance(count, bool) else 0
        txn.update(
            item.content_hash,
            tags=None,
            memory_type=None,
            metadata={"session_count": count + 1, "counter_key": key},
            preserve_timestamps=False,
        )

    await svc.writer.submit(write, client=client)
    return m.Ok(id=req.id)
