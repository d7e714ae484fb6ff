"""The benchmark's vector sets, shared by the recall tests and ``bench/engine_search.py``.

- ``random``: independent unit vectors (every direction equally likely).
- ``clustered``: shaped like sentence embeddings: a shared direction every vector leans on (real
  models' vectors are anisotropic: unrelated sentences score ~0.1-0.2), topics of very different
  tightness, and a share of near-paraphrases sitting within cosine ~0.9-0.97 of another row, so
  many rows crowd the top of the ranking and the candidate set of the first pass is large.
- ``texts``: the hash embedder over the stress workload's memory texts (real words, shared
  vocabularies, templates).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from memhub.embedding import HashEmbedder
from memhub.stress.workload import Workload

Matrix = npt.NDArray[np.float32]
SETS = ("random", "clustered", "texts")


def _unit(rows: npt.NDArray[np.floating]) -> Matrix:
    out = np.asarray(rows, dtype=np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def random_set(n: int, dim: int, seed: int) -> Matrix:
    rng = np.random.default_rng(seed)
    return _unit(rng.standard_normal((n, dim)))


def clustered_set(n: int, dim: int, seed: int) -> Matrix:
    rng = np.random.default_rng(seed)
    common = rng.standard_normal(dim)
    topics = max(8, n // 250)
    centres = rng.standard_normal((topics, dim))
    spread = rng.uniform(0.4, 1.6, topics)  # some topics tight, some loose
    topic = rng.integers(0, topics, n)
    raw = 0.35 * common + centres[topic] + spread[topic, None] * rng.standard_normal((n, dim))
    rows = _unit(raw)
    # ~10% near-paraphrases of an earlier row
    copies = rng.choice(n, n // 10, replace=False)
    sources = rng.integers(0, n, copies.shape[0])
    rows[copies] = _unit(rows[sources] + 0.2 * rng.standard_normal((copies.shape[0], dim)) / 10)
    return rows


def text_set(n: int, seed: int) -> tuple[Matrix, list[str]]:
    texts: list[str] = []
    client = 0
    while len(texts) < n:
        work = Workload(seed=seed, client=client)
        texts.extend(work.text(i) for i in range(min(2000, n - len(texts))))
        client += 1
    return _unit(HashEmbedder().encode(texts)), texts


def vector_set(name: str, n: int, dim: int = 384, seed: int = 0) -> Matrix:
    if name == "random":
        return random_set(n, dim, seed)
    if name == "clustered":
        return clustered_set(n, dim, seed)
    if name == "texts":
        return text_set(n, seed)[0]
    raise ValueError(f"unknown vector set {name!r}")


def queries_for(name: str, data: Matrix, count: int, seed: int = 1) -> Matrix:
    """Queries drawn the way each set is searched: random directions, or near stored rows."""
    rng = np.random.default_rng(seed)
    if name == "random":
        return random_set(count, data.shape[1], seed)
    near = data[rng.integers(0, data.shape[0], count)]
    return _unit(near + 0.5 * rng.standard_normal(near.shape) / np.sqrt(data.shape[1]))
