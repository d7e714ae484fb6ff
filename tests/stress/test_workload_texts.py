"""The stress workload's texts are varied enough that only its intended copies are duplicates.

Semantic dedup rejects a store whose cosine to any memory of the last 24 h reaches the
daemon's threshold, across all clients. An earlier generator drew bags of words from small
vocabularies and the real model rejected ~35% of its stores; the stores it *means* to be
duplicates are only ``exact_dup_rate`` + ``near_dup_rate`` of them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from memhub.config import Settings
from memhub.embedding import HashEmbedder, create_embedder
from memhub.stress.workload import Workload

THRESHOLD = Settings.from_env({}).semantic_dedup_threshold  # what the daemon uses
SAMPLE = 500
CLIENTS = 8


def fresh_texts(n: int = SAMPLE, seed: int = 1) -> list[str]:
    """Fresh (not intentionally duplicated) texts of several clients, interleaved as in a run."""
    workloads = [Workload(seed=seed, client=c) for c in range(CLIENTS)]
    return [workloads[i % CLIENTS].text(i // CLIENTS) for i in range(n)]


def rows_with_a_near_duplicate(vectors: npt.NDArray[np.float32]) -> int:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -1.0)
    return int((sims.max(axis=1) >= THRESHOLD).sum())


def test_threshold_is_the_daemons_default():
    assert pytest.approx(0.85) == THRESHOLD


def test_fresh_texts_have_no_unintended_near_duplicates_hash_embedder():
    texts = fresh_texts()
    assert len(set(texts)) == SAMPLE
    assert rows_with_a_near_duplicate(HashEmbedder().encode(texts)) == 0


def test_texts_vary_in_length_and_topic():
    texts = fresh_texts()
    lengths = sorted(len(t) for t in texts)
    assert lengths[len(lengths) // 10] < 150 < 300 < lengths[-len(lengths) // 10]
    workload = Workload(seed=1, client=0)
    ops = [workload.next_op() for _ in range(400)]
    topics = {op.tags[0] for op in ops if op.kind == "store" and op.tags}
    assert len(topics) == 6


def test_intended_duplicates_keep_their_share():
    stores = []
    for client in range(CLIENTS):
        workload = Workload(seed=2, client=client)
        stores += [op for op in (workload.next_op() for _ in range(400)) if op.kind == "store"]
    exact = sum(op.expect_duplicate for op in stores) / len(stores)
    near = sum(op.text.endswith(" (again)") for op in stores) / len(stores)
    assert 0.03 < exact < 0.07  # exact_dup_rate = 0.05
    assert 0.015 < near < 0.045  # near_dup_rate = 0.03 (of the stores not exact copies)
    # A near copy is what the dedup is for: the hash embedder puts it above the threshold.
    copies = [op.text for op in stores if op.text.endswith(" (again)")]
    vectors = HashEmbedder().encode([t.removesuffix(" (again)") for t in copies] + copies)
    half = len(copies)
    assert all(float(vectors[i] @ vectors[half + i]) >= THRESHOLD for i in range(half))


@pytest.mark.slow
def test_fresh_texts_have_almost_no_near_duplicates_real_model():
    model = create_embedder("model", "all-MiniLM-L6-v2", 2)
    vectors = model.encode(fresh_texts())
    # Measured: 2 of 500 rows (one pair at cosine 0.852); the old generator: 297 of 500.
    assert rows_with_a_near_duplicate(vectors) <= SAMPLE // 100
