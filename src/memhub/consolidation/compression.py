"""12.4's extractive cluster summaries (``consolidation/compression.py``); no model.

Each cluster (without the memories consolidation itself wrote) becomes one ``pattern`` memory:
an overview line, the sentences that cover new key concepts best, and a "Key concepts" line,
within ``max_summary_length``. Its hash is the SHA-256 of the summary as is (not memhub's
stripped, lower-cased content hash: 12.4 writes exactly this), its vector the cluster's
centroid. The originals are kept.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import attrs
import numpy as np
import numpy.typing as npt

from memhub.consolidation.clustering import STOP, Cluster
from memhub.storage.model import Candidate

SELF_GENERATED: Final = frozenset({"association", "session-consolidation", "session-summary"})
OUTPUT_TAGS: Final = frozenset({"cluster", "compressed"})
STRUCTURAL: Final = frozenset({"session", "summary", "user", "copies", "hash"})
SQL_WORDS: Final = frozenset({"between", "select", "where", "from", "join", "inner", "outer",
                              "group", "order", "limit"})  # fmt: skip
META: Final = frozenset({"memory", "memories", "association", "similarity", "storage",
                         "retrieval"})  # fmt: skip
KEEP_TAGS: Final = frozenset({"important", "critical", "reference", "project"})
INTERNAL_KEYS: Final = frozenset(
    {"connection_boost", "decay_factor", "last_consolidated_at", "access_boost",
     "_is_compressed", "consolidation_run"}
)  # fmt: skip
_PATTERNS: Final = (
    re.compile(r"\b[A-Z][a-z]*[A-Z][a-zA-Z]*\b"),
    re.compile(r"\b[A-Z]{2,}\b"),
    re.compile(r"\b\d+(?:\.\d+)?\b"),
    re.compile(r"https?://[^\s]+"),
    re.compile(r"[/\\][^\s]+"),
    re.compile(r'"([^"]*)"'),
    re.compile(r"```[\s\S]*?```|`[^`]+`"),
)
_NUMBER: Final = re.compile(r"\d+(?:\.\d+)?")


@attrs.frozen(kw_only=True)
class Summary:
    """A cluster's compressed memory, ready to store."""

    content: str
    content_hash: str
    tags: list[str]
    metadata: dict[str, Any]
    centroid: npt.NDArray[np.float64] = attrs.field(eq=False)


def self_generated(c: Candidate) -> bool:
    tags = set(c.record.tags)
    return c.record.memory_type == "session" or bool(SELF_GENERATED & tags) or tags >= OUTPUT_TAGS


def key_concepts(members: Sequence[Candidate], themes: Sequence[str]) -> list[str]:
    text = " ".join(c.record.content for c in members)
    present = text.lower()
    tags = {t.lower() for c in members for t in c.record.tags}
    found: set[str] = {k for k in themes if k.lower() in tags or k.lower() in present}
    for pattern in _PATTERNS:
        found.update(pattern.findall(text))
    found.update(re.findall(r"\b[A-Z][a-z]{2,}\b", text))
    counts = Counter(re.findall(r"\b[a-zA-Z]{4,}\b", present))
    stop = STOP | {"without"}
    found.update(w for w, n in counts.most_common(20) if w not in stop and n >= 2)
    by_lower: dict[str, str] = {}
    for concept in sorted(found):  # 12.4 iterates a set; sorted keeps runs reproducible
        key = concept.lower()
        if key not in by_lower or (concept[:1].isupper() and not by_lower[key][:1].isupper()):
            by_lower[key] = concept

    def noise(concept: str) -> bool:
        low = concept.strip().lower()
        return (low in stop or low in STRUCTURAL or low in SQL_WORDS or low in META
                or _NUMBER.fullmatch(concept.strip()) is not None)  # fmt: skip

    kept = [c for c in by_lower.values() if not noise(c)]
    kept.sort(key=lambda c: counts.get(c.lower(), 0), reverse=True)
    return kept[:15]


def sentences_of(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"[.!?]+\s+", text) if len(s.strip()) > 10]


def representative(members: Sequence[Candidate], concepts: Sequence[str]) -> list[str]:
    chosen: list[tuple[float, str]] = []
    covered: set[str] = set()
    for c in members:
        for sentence in sentences_of(c.record.content):
            low = sentence.lower()
            has = {k for k in concepts if k.lower() in low}
            new = has - covered
            if new and len(sentence) > 20:
                chosen.append((len(new) + len(has) * 0.1, sentence.strip()))
                covered |= new
    chosen.sort(key=lambda x: x[0], reverse=True)
    return [s for _, s in chosen]


def temporal_span(members: Sequence[Candidate]) -> dict[str, Any]:
    stamps = [c.record.created_at for c in members if c.record.created_at]
    if not stamps:
        return {"start_time": None, "end_time": None, "span_days": 0, "span_description": "unknown"}
    start, end = min(stamps), max(stamps)
    days = int((end - start) / 86400)
    if days == 0:
        text = "same day"
    elif days < 7:
        text = f"{days} days"
    else:
        n, unit = (days // 7, "week") if days < 30 else (
            (days // 30, "month") if days < 365 else (days // 365, "year"))  # fmt: skip
        text = f"{n} {unit}{'s' if n > 1 else ''}"

    def iso(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")

    return {"start_time": start, "end_time": end, "span_days": days, "span_description": text,
            "start_iso": iso(start), "end_iso": iso(end)}  # fmt: skip


def summary_text(
    members: Sequence[Candidate], concepts: Sequence[str], sentences: Sequence[str], limit: int
) -> str:
    span = temporal_span(members)
    overview = f"Cluster of {len(members)} related memories about {', '.join(concepts[:5])}"
    if span["span_days"] > 0:
        overview += f" spanning {span['span_days']} days"
    overview += "."
    parts, used = [overview], len(overview)
    for sentence in sentences:
        if used + len(sentence) >= limit - 100:
            break
        parts.append(sentence)
        used += len(sentence)
    if used < limit - 50:
        closing = f"Key concepts: {', '.join(concepts[:8])}."
        if used + len(closing) < limit:
            parts.append(closing)
    text = " ".join(parts)
    return text[: limit - 3] + "..." if len(text) > limit else text


def _tags(members: Sequence[Candidate]) -> list[str]:
    out = ["cluster", "compressed"]
    for tag, n in Counter(t for c in members for t in c.record.tags).most_common():
        if (n > 1 or tag in KEEP_TAGS) and tag not in out:
            out.append(tag)
    return out[:10]


def _bare_key(key: str) -> str:
    while key.startswith(("common_", "varied_")):
        key = key[7:]
    return key[:-14] if key.endswith("_variety_count") else key


def aggregate_metadata(members: Sequence[Candidate]) -> dict[str, Any]:
    out: dict[str, Any] = {"source_memory_hashes": [c.record.content_hash for c in members]}
    values: dict[str, list[Any]] = {}
    for c in members:
        for raw, value in c.record.metadata.items():
            key = _bare_key(raw)
            if key not in INTERNAL_KEYS and not key.startswith("_"):
                values.setdefault(key, []).append(value)
    for key, found in values.items():
        unique = sorted({str(v) for v in found})  # 12.4: list(set(...)), in set order
        if len(unique) == 1:
            out[f"common_{key}"] = unique[0]
        elif len(unique) <= 5:
            out[f"varied_{key}"] = unique
        else:
            out[f"{key}_variety_count"] = len(unique)
    return out


def compress(
    cluster: Cluster, by_hash: dict[str, Candidate], limit: int, now_iso: str
) -> Summary | None:
    """12.4's ``_compress_cluster`` (None: skipped)."""
    members = [by_hash[c.record.content_hash] for c in cluster.members
               if c.record.content_hash in by_hash and not self_generated(c)]  # fmt: skip
    if len(members) < 2:
        return None
    concepts = key_concepts(members, cluster.theme_keywords)
    sentences = representative(members, concepts)
    text = summary_text(members, concepts, sentences, limit)
    if not any(s in text for s in sentences):
        return None
    original = sum(len(c.record.content) for c in members)
    metadata = {
        **aggregate_metadata(members),
        "cluster_id": cluster.cluster_id,
        "compression_date": now_iso,
        "source_memory_count": len(members),
        "compression_ratio": len(text) / original if original else 0,
        "key_concepts": concepts,
        "temporal_span": temporal_span(members),
        "theme_keywords": cluster.theme_keywords,
        "coherence_score": cluster.coherence,
        "compression_version": "1.0",
    }
    return Summary(content=text, content_hash=hashlib.sha256(text.encode()).hexdigest(),
                   tags=_tags(members), metadata=metadata, centroid=cluster.centroid)  # fmt: skip
