"""12.4's creative associations (``consolidation/associations.py``).

Pairs of the window's memories (all of them up to ``max_pairs``, else a random sample) whose
``(cos + 1) / 2`` lies in ``[min_similarity, max_similarity]`` and whose confidence (the
similarity plus boosts for reasons, shared concepts and shared tags) reaches 0.5. Pairs already
recorded by an association memory are skipped; association memories are never paired.
The similarities of a sample are one matrix product, not a loop over pairs.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Sequence
from itertools import combinations
from typing import Any, Final

import attrs
import numpy as np

from memhub.storage.model import Candidate

ASSOCIATION_TAG: Final = "association"
MIN_CONFIDENCE: Final = 0.5
_CONCEPTS: Final = (
    re.compile(r"https?://[^\s]+"),
    re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}\b"),
    re.compile(r"\b\d{1,2}[/-]\d{1,2}[/-]\d{2,4}\b|\b\d{4}[/-]\d{1,2}[/-]\d{1,2}\b"),
    re.compile(r"\b\d+\.?\d*\b"),
    re.compile(r"\b[a-z]+[A-Z][a-zA-Z]*\b"),
    re.compile(r"\b[A-Z][a-z]*[A-Z][a-zA-Z]*\b"),
    re.compile(r"\b[A-Z]{2,}\b"),
    re.compile(r"\b[A-Z][a-z]+\b"),
    re.compile(r'"([^"]*)"'),
)
_STOP: Final = frozenset({"the", "and", "or", "but", "in", "on", "at", "to", "for", "of", "with",
                          "by"})  # fmt: skip
_STRUCTURE: Final = (
    re.compile(r"\n\s*[-*+]\s+"),
    re.compile(r"\n\s*\d+\.\s+"),
    re.compile(r"\n#{1,6}\s+"),
    re.compile(r"```[\s\S]*?```"),
    re.compile(r"\[.*?\]\(.*?\)"),
)
_PROBLEM: Final = ("problem", "issue", "error", "bug", "fail", "wrong")
_SOLUTION: Final = ("solution", "fix", "resolve", "answer", "correct", "solve")


@attrs.frozen(kw_only=True)
class Association:
    """12.4's ``MemoryAssociation`` of a pair: ``source`` then ``target``, as paired."""

    source: Candidate
    target: Candidate
    similarity: float
    reasons: list[str]
    shared_concepts: list[str]
    temporal_relationship: str | None
    tag_overlap: list[str]
    confidence: float

    @property
    def connection_type(self) -> str:
        return ", ".join(self.reasons)

    def analysis_metadata(self) -> dict[str, Any]:
        return {
            "shared_concepts": self.shared_concepts,
            "temporal_relationship": self.temporal_relationship,
            "tag_overlap": self.tag_overlap,
            "confidence_score": self.confidence,
            "analysis_version": "1.0",
        }


def sample_pairs(n: int, max_pairs: int, rng: random.Random) -> list[tuple[int, int]]:
    """12.4's ``_sample_memory_pairs``, on indices."""
    total = n * (n - 1) // 2
    wanted = min(max_pairs, total)
    if total <= wanted:
        return list(combinations(range(n), 2))
    if wanted > total * 0.7:
        return rng.sample(list(combinations(range(n), 2)), wanted)
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < wanted:
        i, j = rng.sample(range(n), 2)
        pairs.add((min(i, j), max(i, j)))
    return list(pairs)


def concepts(text: str) -> set[str]:
    found: set[str] = set()
    for pattern in _CONCEPTS:
        found.update(pattern.findall(text))
    words = [w for w in re.findall(r"\b\w{4,}\b", text.lower()) if w not in _STOP]
    found.update(words[:10])
    return found


def _similar_structure(a: str, b: str) -> bool:
    return any(p.search(a) and p.search(b) for p in _STRUCTURE)


def _complementary(a: str, b: str) -> bool:
    if ("?" in a) != ("?" in b):
        return True
    la, lb = a.lower(), b.lower()
    problem_a, problem_b = any(w in la for w in _PROBLEM), any(w in lb for w in _PROBLEM)
    solution_a, solution_b = any(w in la for w in _SOLUTION), any(w in lb for w in _SOLUTION)
    return (problem_a and solution_b) or (solution_a and problem_b)


def _temporal(a: Candidate, b: Candidate) -> str | None:
    if not (a.record.created_at and b.record.created_at):
        return None
    days = abs(a.record.created_at - b.record.created_at) / 86400
    if days < 1:
        return "same_day"
    if days < 7:
        return "same_week"
    return None


def analyse(
    a: Candidate, b: Candidate, similarity: float, cache: dict[str, set[str]] | None = None
) -> Association:
    overlap = sorted(set(a.record.tags) & set(b.record.tags))
    reasons = []
    if overlap:
        reasons.append("shared_tags")
    temporal = _temporal(a, b)
    if temporal:
        reasons.append("temporal_proximity")
    cache = {} if cache is None else cache
    for c in (a, b):
        if c.record.content_hash not in cache:
            cache[c.record.content_hash] = concepts(c.record.content)
    shared = sorted(cache[a.record.content_hash] & cache[b.record.content_hash])
    if shared:
        reasons.append("shared_concepts")
    if _similar_structure(a.record.content, b.record.content):
        reasons.append("similar_structure")
    if _complementary(a.record.content, b.record.content):
        reasons.append("complementary_content")
    confidence = min(
        1.0,
        similarity
        + min(0.3, len(reasons) * 0.1)
        + min(0.2, len(shared) * 0.05)
        + min(0.2, len(overlap) * 0.1),
    )
    return Association(source=a, target=b, similarity=similarity, reasons=reasons,
                       shared_concepts=shared, temporal_relationship=temporal,
                       tag_overlap=overlap, confidence=confidence)  # fmt: skip


def text_similarity(a: str, b: str) -> float:
    """12.4's fallback without embeddings: Jaccard of whitespace tokens."""
    wa, wb = set(a.lower().split()), set(b.lower().split())
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / len(wa | wb)


def _similarities(pool: Sequence[Candidate], pairs: list[tuple[int, int]]) -> list[float]:
    dim = next((c.vector.shape[0] for c in pool if c.vector is not None), 0)
    matrix = np.zeros((len(pool), dim), dtype=np.float64)
    norms = np.zeros(len(pool))
    for i, c in enumerate(pool):
        if c.vector is not None and c.vector.shape[0] == dim:
            matrix[i] = c.vector
            norms[i] = float(np.linalg.norm(c.vector))
    out = []
    for i, j in pairs:
        if norms[i] == 0 or norms[j] == 0:
            if pool[i].vector is None or pool[j].vector is None:
                out.append(text_similarity(pool[i].record.content, pool[j].record.content))
            else:
                out.append(0.0)
            continue
        cos = float(matrix[i] @ matrix[j]) / (norms[i] * norms[j])
        out.append(float((cos + 1) / 2))
    return out


def discover(
    memories: Sequence[Candidate],
    existing: set[tuple[str, str]],
    *,
    min_similarity: float,
    max_similarity: float,
    max_pairs: int,
    rng: random.Random,
) -> tuple[list[Association], int]:
    """The associations 12.4 would find among ``memories``, and how many pairs it looked at."""
    pool = [c for c in memories if ASSOCIATION_TAG not in c.record.tags]
    if len(pool) < 2:
        return [], 0
    pairs = sample_pairs(len(pool), max_pairs, rng)
    pairs = [
        (i, j)
        for i, j in pairs
        if tuple(sorted((pool[i].record.content_hash, pool[j].record.content_hash))) not in existing
    ]
    found = []
    cache: dict[str, set[str]] = {}  # each memory's concepts, extracted once
    for n, ((i, j), similarity) in enumerate(zip(pairs, _similarities(pool, pairs), strict=True)):
        if n % 50 == 0:
            time.sleep(0)  # let the daemon's other threads have the GIL now and then
        if min_similarity <= similarity <= max_similarity:
            association = analyse(pool[i], pool[j], similarity, cache)
            if association.confidence >= MIN_CONFIDENCE:
                found.append(association)
    return found, len(pairs)
