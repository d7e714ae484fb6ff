"""12.4's semantic clusters (``consolidation/clustering.py``), its ``simple`` algorithm.

scikit-learn is not a memhub dependency, so ``auto`` is 12.4's ``simple`` (what 12.4 runs
without scikit-learn), and naming ``dbscan`` or ``hierarchical`` is 12.4's configuration error.
``simple`` is greedy: each memory not yet placed takes every later unplaced one whose cosine
reaches 0.7; a group of fewer than ``min_cluster_size`` goes back to noise. The cosines of a
memory to the later ones are one matrix-vector product.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any, Final

import attrs
import numpy as np
import numpy.typing as npt

from memhub.consolidation.decay import whole_days
from memhub.storage.model import Candidate

THRESHOLD: Final = 0.7
SKLEARN: Final = ("dbscan", "hierarchical")
NEEDS_SKLEARN: Final = (
    "Clustering algorithm '{algorithm}' requires scikit-learn, which is not installed. Either "
    "install the optional dependency, e.g. pip install 'mcp-memory-service[clustering]', or set "
    "MCP_CLUSTERING_ALGORITHM to 'auto' (best available) or 'simple'."
)
STOP: Final = frozenset(
    """this that with have will from they know want been good much some
time very when come here just like long make many over such take than them well were what work
your could should would there their these about after again before being between during under
where while other through against""".split()
)


class ClusteringUnavailable(Exception):
    """12.4's ``ConsolidationError`` for an algorithm that needs scikit-learn."""


@attrs.frozen(kw_only=True)
class Cluster:
    cluster_id: str
    members: list[Candidate]
    centroid: npt.NDArray[np.float64] = attrs.field(eq=False)
    coherence: float
    theme_keywords: list[str]
    metadata: dict[str, Any]


def resolve(algorithm: str) -> str:
    """The algorithm that runs: ``auto`` is ``simple`` here."""
    if algorithm == "auto":
        return "simple"
    if algorithm in SKLEARN:
        raise ClusteringUnavailable(NEEDS_SKLEARN.format(algorithm=algorithm))
    return algorithm


def simple_labels(vectors: npt.NDArray[np.float64], min_size: int) -> list[int]:
    norms = np.linalg.norm(vectors, axis=1)
    norms[norms == 0] = np.inf  # a zero vector is similar to nothing (12.4 divides to nan)
    unit = vectors / norms[:, None]
    labels = [-1] * len(vectors)
    current = 0
    for i in range(len(vectors)):
        if labels[i] != -1:
            continue
        members = [i]
        labels[i] = current
        # one row of cosines at a time: memory stays linear in the batch
        for j in np.nonzero(unit[i + 1 :] @ unit[i] >= THRESHOLD)[0] + i + 1:
            if labels[j] == -1:
                labels[j] = current
                members.append(int(j))
        if len(members) >= min_size:
            current += 1
        else:
            for k in members:
                labels[k] = -1
    return labels


def theme_keywords(members: Sequence[Candidate]) -> list[str]:
    text = " ".join(c.record.content for c in members).lower()
    tags = Counter(t for c in members for t in c.record.tags)
    words = Counter(re.findall(r"\b[a-zA-Z]{4,}\b", text))
    kept = {w: n for w, n in words.items() if w not in STOP and n > 1}
    themes = [tag for tag, n in tags.most_common(5) if n > 1]
    for word, _ in sorted(kept.items(), key=lambda x: x[1], reverse=True)[:10]:
        if word not in themes:
            themes.append(word)
    return themes[:10]


def _cluster(members: list[Candidate], algorithm: str, now: float) -> Cluster:
    vectors = np.array([c.vector for c in members], dtype=np.float64)
    centroid = vectors.mean(axis=0)
    norm = float(np.linalg.norm(centroid))
    cosines = vectors @ centroid / (np.linalg.norm(vectors, axis=1) * norm) if norm else [0.0]
    ages = [whole_days(now, c.record.created_at) for c in members if c.record.created_at]
    return Cluster(
        cluster_id=str(uuid.uuid4()),
        members=members,
        centroid=centroid,
        coherence=float(np.mean(cosines)),
        theme_keywords=theme_keywords(members),
        metadata={
            "algorithm": algorithm,
            "cluster_size": len(members),
            "average_memory_age": sum(ages) / len(ages) if ages else 0.0,
            "tag_distribution": dict(Counter(t for c in members for t in c.record.tags)),
        },
    )


def clusters(
    memories: Sequence[Candidate], algorithm: str, min_size: int, now: float
) -> list[Cluster]:
    """12.4's ``SemanticClusteringEngine.process`` with ``simple``."""
    name = resolve(algorithm)
    with_vectors = [c for c in memories if c.vector is not None]
    if len(memories) < min_size or len(with_vectors) < min_size:
        return []
    labels = simple_labels(np.array([c.vector for c in with_vectors], dtype=np.float64), min_size)
    groups: dict[int, list[Candidate]] = {}
    for label, candidate in zip(labels, with_vectors, strict=True):
        if label != -1:
            groups.setdefault(label, []).append(candidate)
    return [_cluster(g, name, now) for g in groups.values() if len(g) >= min_size]
