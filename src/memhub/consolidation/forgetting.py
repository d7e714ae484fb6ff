"""12.4's controlled forgetting (``consolidation/forgetting.py``): what happens to old memories.

Candidates are memories older than ``max(forgetting_min_age_days, window)``; protected ones
are never touched. Reasons: low relevance, long inactivity for its quality, an expired
temporary memory, low-quality content, a near-duplicate of a better-ranked candidate. The
action: **delete** a deletable duplicate, **archive** (a file; the memory stays) priority 1-2,
else **compress** (a shorter ``pattern`` memory replaces it). Outside quarterly and yearly only
expired temporaries and duplicates are deletable.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence
from typing import Any, Final, Literal

import attrs

from memhub.consolidation.decay import Relevance, age_days, is_protected, quality, whole_days
from memhub.protocol import messages as m
from memhub.storage.model import Candidate

Action = Literal["archived", "compressed", "deleted"]
LOW_VALUE: Final = ("test", "testing", "hello world", "lorem ipsum", "asdf", "qwerty", "1234",
                    "temp", "temporary")  # fmt: skip
DELETES_ALWAYS: Final = frozenset({"expired_temporary", "potential_duplicate"})


@attrs.frozen(kw_only=True)
class Decision:
    """One candidate's fate (12.4's ``ForgettingCandidate`` and the action it gets)."""

    candidate: Candidate
    score: Relevance
    reasons: list[str]
    priority: int
    deletable: bool

    @property
    def action(self) -> Action:
        if self.deletable and "potential_duplicate" in self.reasons:
            return "deleted"
        return "archived" if self.priority <= 2 else "compressed"


def low_quality(content: str) -> bool:
    text = content.strip()
    if len(text) < 10:
        return True
    if sum(1 for ch in text if ch.isalpha()) / len(text) < 0.3:
        return True
    words = text.split()
    if len(set(words)) < len(words) * 0.5:
        return True
    lower = text.lower()
    return len(text) < 100 and any(p in lower for p in LOW_VALUE)


@attrs.frozen
class Folded:
    """A content as the duplicate test compares it: stripped, lower-cased, its word set."""

    text: str
    words: frozenset[str]

    @classmethod
    def of(cls, content: str) -> Folded:
        text = content.strip().lower()
        return cls(text, frozenset(text.split()))


def near_duplicate(x: Folded, y: Folded) -> bool:
    """12.4's ``_is_near_duplicate_of`` (``x`` the memory, ``y`` the other)."""
    if len(x.text) < 20:
        return False
    if x.text == y.text:
        return True
    if min(len(x.text), len(y.text)) <= 50:
        return False
    if x.text in y.text or y.text in x.text:
        return True
    if min(len(x.words), len(y.words)) <= 5:
        return False
    return len(x.words & y.words) / len(x.words | y.words) > 0.8


def _rank(c: Candidate, scores: dict[str, Relevance]) -> tuple[float, float, str]:
    found = scores.get(c.record.content_hash)
    return (-(found.total_score if found else 0.0), c.record.created_at or 0.0,
            c.record.content_hash or "")  # fmt: skip


def redundant_copies(pool: Sequence[Candidate], scores: dict[str, Relevance]) -> set[str]:
    """12.4's ``_is_redundant_copy`` for the whole pool at once: the memories that have a
    near-duplicate which outranks them. Quadratic, as 12.4's (the pool is one batch), with
    every content folded once; the GIL is let go now and then for the daemon's other work."""
    folded = [Folded.of(c.record.content) for c in pool]
    ranks = [_rank(c, scores) for c in pool]
    found: set[str] = set()
    for i, c in enumerate(pool):
        if i % 25 == 0:
            time.sleep(0)
        if len(folded[i].text) < 20:
            continue
        mine = c.record.content_hash
        for j, other in enumerate(pool):
            if (ranks[j] < ranks[i] and other.record.content_hash != mine
                    and near_duplicate(folded[i], folded[j])):  # fmt: skip
                found.add(mine)
                break
    return found


def _inactivity_threshold(q: float, settings: m.ConsolidationSettings) -> int:
    if q >= 0.7:
        return settings.retention_high
    if q >= 0.5:
        return settings.retention_medium
    low, high = settings.retention_low_min, settings.retention_low_max
    return int(low + (q / 0.5) * (high - low))


def _decide(
    c: Candidate, redundant: set[str], scores: dict[str, Relevance],
    settings: m.ConsolidationSettings, horizon: str, now: float,
) -> Decision | None:  # fmt: skip
    record = c.record
    score = scores[record.content_hash]
    reasons: list[str] = []
    deletable, priority = False, 3
    if score.total_score < settings.relevance_threshold:
        reasons.append("low_relevance")
        priority = min(priority, 2)
    seen = c.last_accessed or record.updated_at
    if seen:
        idle = whole_days(now, seen)
        threshold = _inactivity_threshold(quality(record.metadata), settings)
        if idle > threshold:
            reasons.append("old_access")
            if idle > threshold * 2:
                priority, deletable = min(priority, 1), True
    temporary = (record.memory_type or "standard") == "temporary" or bool(
        {"temporary", "t:temporary"} & set(record.tags)
    )
    if temporary and age_days(record, now) > 7:
        reasons.append("expired_temporary")
        deletable, priority = True, 1
    if low_quality(record.content):
        reasons.append("low_quality")
        priority = min(priority, 2)
    if record.content_hash in redundant:
        reasons.append("potential_duplicate")
        deletable, priority = True, 1
    if not reasons:
        return None
    if horizon not in ("quarterly", "yearly") and not DELETES_ALWAYS & set(reasons):
        deletable = False
    return Decision(candidate=c, score=score, reasons=reasons, priority=priority,
                    deletable=deletable)  # fmt: skip


def decide(
    pool: Sequence[Candidate], scores: dict[str, Relevance],
    settings: m.ConsolidationSettings, horizon: str, now: float,
) -> list[Decision]:  # fmt: skip
    """12.4's ``_identify_forgetting_candidates``, in its order (priority, then relevance)."""
    redundant = redundant_copies(pool, scores)
    found = [
        d
        for c in pool
        if not is_protected(c.record) and c.record.content_hash in scores
        if (d := _decide(c, redundant, scores, settings, horizon, now)) is not None
    ]
    found.sort(key=lambda d: (d.priority, -d.score.total_score))
    return found


def important_terms(text: str) -> list[str]:
    terms: set[str] = set()
    for pattern in (r"\b[A-Z][a-z]+\b", r"\b\d+(?:\.\d+)?(?:\s*[a-zA-Z]+)?\b", r'"([^"]*)"',
                    r"\b[a-z]+[A-Z][a-zA-Z]*\b", r"\b\w+_\w+\b"):  # fmt: skip
        terms.update(re.findall(pattern, text))
    return sorted(terms)[:10]  # 12.4: list(set)[:10], in set order


def compressed_content(original: str) -> str:
    pieces = original.split(".")
    if len(pieces) > 3:
        keep = [pieces[0].strip(), pieces[-1].strip()]
        terms = important_terms(" ".join(pieces[1:-1]))
        if terms:
            keep.append(f"Key terms: {', '.join(terms[:5])}")
        text = ". ".join(keep)
    else:
        text = original.strip()
    if len(text) < len(original) * 0.8:
        text += " [Compressed]"
    return text


def compressed_version(d: Decision, now_iso: str) -> tuple[str, str, list[str], dict[str, Any]]:
    """(content, 12.4's hash, tags, metadata) of the memory that replaces a compressed one."""
    record = d.candidate.record
    content = compressed_content(record.content)
    metadata = {
        **record.metadata,
        "original_hash": record.content_hash,
        "original_length": len(record.content),
        "compressed_length": len(content),
        "compression_ratio": len(content) / len(record.content) if record.content else 0.0,
        "compression_date": now_iso,
        "forgetting_reasons": d.reasons,
    }
    return (
        content,
        hashlib.sha256(content.encode()).hexdigest(),
        [*record.tags, "compressed"],
        metadata,
    )
