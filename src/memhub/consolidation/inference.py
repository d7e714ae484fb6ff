"""The label of a consolidation edge: 12.4's ``RelationshipInferenceEngine`` and review band.

Candidates come from the parent-type pair, keywords in the source (resolution, causation,
support), time (``follows`` within an hour, a newer learning ``fixes`` an error) and
contradiction words; only those 12.4's ontology allows for the parent pair stay. The best one
falls back to ``related`` when the similarity is under 0.45, when the memories share neither a
tag nor a keyword, or when its confidence is under 0.6; then the review band: at most 0.60 is
``related``, under 0.85 keeps the label with ``needs_review``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from memhub.consolidation.decay import PARENT

MIN_CONFIDENCE: Final = 0.6  # the consolidator's relationship_confidence_threshold
MIN_TYPED_SIMILARITY: Final = 0.45
REVIEW_LOW: Final = 0.60
REVIEW_HIGH: Final = 0.85

_P = re.compile
PATTERNS: Final = {
    "causation": [_P(p) for p in (r"\bcaused?\b", r"\blead\s+to\b", r"\bresulted\s+in\b",
        r"\btriggered\b", r"\bgenerated\b", r"\bverursacht\b", r"\bführt[e]?\s+zu\b",
        r"\bausgelöst\b", r"\bgrund\s+(?:war|ist|dafür)\b")],
    "resolution": [_P(p) for p in (r"\bfixed?\b", r"\bresolve[ds]?\b", r"\bcorrected?\b",
        r"\bpatched?\b", r"\brepaired\b", r"\bhealed\b", r"\bgefixt\b", r"\bbehoben\b",
        r"\bgelöst\b", r"\bkorrigiert\b", r"\brepariert\b")],
    "support": [_P(p) for p in (r"\bsupports?\b", r"\benables?\b", r"\bfacilitate[ds]?\b",
        r"\bhelps?\b", r"\baccompany\b", r"\bunterstützt\b", r"\bermöglicht\b", r"\bhilft\b",
        r"\berleichtert\b")],
    "contradiction": [_P(p) for p in (r"\bcontradict[ds]?\b", r"\bconflict[ds]?\b",
        r"\bdisagree[ds]?\b", r"\boppose[sd]?\b", r"\bincorrect\b", r"\bwrong\b",
        r"\bnot\s+true\b", r"\buntrue\b", r"\bfalsely?\b", r"\bcontrary\b", r"\bopposite\b",
        r"\bnever\b", r"\bwiderspricht\b", r"\bfalsch\b", r"\binkorrekt\b",
        r"\bstimmt\s+nicht\b", r"\bgegenteil\b")],
}  # fmt: skip
STOPWORDS: Final = frozenset(
    """a an the and or but in on at to for of with by from is was are
were be been being have has had do does did will would could should may might shall can not no
nor so yet both either neither just also as if this that these those it its we our they their
he she his her i my me you your up out about after before then than when which who what where
how all some any more most such into through during however although though because since
while each few further once only same other new own very too der die das ein eine und oder
aber ist war sind hat haben wird wurde kann mit von auf für den dem des sich auch noch wie bei
nach über aus wenn dann nur man nicht schon hier gibt sehr mehr zum zur einem einer eines dass
wir uns ihr euch""".split()
)
_WORD: Final = re.compile(r"[a-zA-ZäöüÄÖÜß][a-zA-Z0-9äöüÄÖÜß_-]{2,}")
#: 12.4's ``valid_patterns`` (source parent, target parent); "any" matches every parent.
ALLOWED: Final = {
    "causes": {("observation", "error"), ("decision", "observation"), ("error", "error")},
    "fixes": {("decision", "error"), ("learning", "error"), ("pattern", "error")},
    "contradicts": {("decision", "decision"), ("learning", "learning"),
                    ("observation", "observation")},
    "supports": {("learning", "decision"), ("observation", "learning"), ("pattern", "learning")},
    "follows": {("observation", "observation"), ("decision", "decision"), ("any", "any")},
    "related": {("any", "any")},
}  # fmt: skip
TYPE_PAIRS: Final = {
    ("learning", "error"): ("fixes", 0.8),
    ("pattern", "error"): ("fixes", 0.75),
    ("learning", "decision"): ("supports", 0.6),
    ("pattern", "learning"): ("supports", 0.6),
    ("error", "error"): ("causes", 0.6),
    ("observation", "learning"): ("supports", 0.6),
    ("observation", "error"): ("causes", 0.55),
    ("observation", "observation"): ("follows", 0.5),
}


def parent(memory_type: str | None) -> str | None:
    if not memory_type:
        return None
    if "/" in memory_type:
        first = PARENT.get(memory_type.split("/", 1)[0])
        if first is not None:
            return first
    return PARENT.get(memory_type)


def allowed(rel: str, source: str | None, target: str | None) -> bool:
    return any(s in ("any", source) and t in ("any", target) for s, t in ALLOWED.get(rel, ()))


def _count(kind: str, text: str) -> int:
    return sum(1 for p in PATTERNS[kind] if p.search(text))


def keywords(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in STOPWORDS}


def _candidates(
    types: tuple[str | None, str | None], texts: tuple[str, str], times: tuple[float, float]
) -> list[tuple[str, float]]:
    (s_type, t_type), (s_text, t_text), (s_time, t_time) = types, texts, times
    sp, tp = parent(s_type), parent(t_type)
    found: list[tuple[str, float]] = []
    if s_type and t_type and (pattern := TYPE_PAIRS.get((sp or "", tp or ""))):
        found.append(pattern)
    if (n := _count("resolution", s_text)) and t_type and "error" in t_type:
        found.append(("fixes", min(0.9, 0.5 + n * 0.1)))
    if (n := _count("causation", s_text)) and t_type and "error" in t_type:
        found.append(("causes", min(0.8, 0.5 + n * 0.1)))
    if (n := _count("support", s_text)) and t_type and "decision" in t_type:
        found.append(("supports", min(0.75, 0.4 + n * 0.1)))
    if s_time and t_time:
        if abs(s_time - t_time) < 3600 and sp == tp:
            found.append(("follows", 0.4))
        if s_time > t_time and s_type and "learning" in s_type and t_type and "error" in t_type:
            found.append(("fixes", 0.6))
    sc, tc = _count("contradiction", s_text), _count("contradiction", t_text)
    if sc or tc:
        found.append(("contradicts", 0.75 if sc and tc else 0.5))
    return [(rel, conf) for rel, conf in found if allowed(rel, sp, tp)]


def infer(
    types: tuple[str | None, str | None],
    texts: tuple[str, str],
    times: tuple[float, float],
    tags: tuple[Sequence[str], Sequence[str]],
    similarity: float,
    *,
    typed_edges: bool = True,
) -> tuple[str, float]:
    """12.4's ``infer_relationship_type``: (label, confidence)."""
    if not typed_edges:
        return "related", 0.0
    lowered = (texts[0].lower(), texts[1].lower())
    found = _candidates(types, lowered, times)
    if not found:
        return "related", 0.0
    found.sort(key=lambda c: c[1], reverse=True)  # stable: the first of equals wins, as in 12.4
    best, confidence = found[0]
    if best != "related":
        shared = bool(set(tags[0]) & set(tags[1])) or bool(
            keywords(lowered[0]) & keywords(lowered[1])
        )
        if similarity < MIN_TYPED_SIMILARITY or not shared or confidence < MIN_CONFIDENCE:
            return "related", confidence
    if confidence < MIN_CONFIDENCE:
        return "related", confidence
    return best, confidence


def review_band(rel: str, confidence: float) -> tuple[str, bool]:
    """12.4's ``apply_review_band``: (stored label, needs_review)."""
    if rel == "related" or confidence <= REVIEW_LOW:
        return "related", False
    return rel, confidence < REVIEW_HIGH
