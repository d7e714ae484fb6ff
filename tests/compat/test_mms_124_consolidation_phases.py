"""memhub's consolidation phases against mcp-memory-service 12.4.0's own functions, on a few
hundred generated inputs: edge labels (inference and review band), association analysis
(reasons, shared concepts and tags, confidence) and ``simple`` clustering labels
(``mms_phases_driver.py`` runs 12.4's code). No model, no store: fast.
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

from memhub.consolidation import compression, forgetting
from memhub.consolidation.associations import analyse
from memhub.consolidation.clustering import simple_labels, theme_keywords
from memhub.consolidation.decay import Relevance, as_12_4_reads
from memhub.consolidation.inference import infer, review_band
from memhub.domain.ontology import known_types
from memhub.domain.tags import read_back
from memhub.protocol import messages as m
from memhub.storage.model import Candidate

from .mms_env import run_driver

pytestmark = pytest.mark.compat

VERSION = "12.4.0"
DRIVER = Path(__file__).with_name("mms_phases_driver.py")
TYPES = ["learning", "error", "decision", "observation", "pattern", "note", "insight", "bug",
         "learning/insight", "error/bug", "session", None]  # fmt: skip
TEXTS = [
    "Fixed the login error by patching the token refresh",
    "The outage was caused by a full disk and triggered alerts",
    "This approach supports the decision and helps the team",
    "That claim is wrong and never true, it contradicts the docs",
    "Login error: token refresh fails with a timeout",
    "Meeting notes about the roadmap for Q3",
    'Is the "blue green" deploy ready? See https://example.com/deploy on 2024-05-01',
    "- first item\n- second item\n## Header\nmail ops@example.com about parseConfig",
    "The database migration problem was resolved with a solution from the DBA team",
    "Lunch at the ramen place; PostgreSQL and Redis came up, version 12.4",
]
TAGS = [[], ["ops"], ["ops", "deploy"], ["python"], ["deploy", "important"]]


def run_124(doc: dict[str, Any], work: Path) -> dict[str, Any]:
    result: dict[str, Any] = run_driver(DRIVER, doc, work, version=VERSION)
    return result


DAY = 86400.0


def candidate(doc: dict[str, Any]) -> Candidate:
    """The memory as memhub reads it from a store (no tags read back as ``untagged``, as in
    12.4's ``Memory``)."""
    record = m.MemoryRecord(
        content_hash=doc["hash"], content=doc["content"], tags=read_back(doc["tags"]),
        memory_type=doc.get("memory_type") or "standard", metadata={}, created_at=doc["created_at"],
        updated_at=doc["created_at"], created_at_iso="", updated_at_iso="",
    )  # fmt: skip
    return Candidate(record=record, vector=None, last_accessed=None)


def cases(rng: random.Random) -> dict[str, Any]:
    base = 1_700_000_000.0
    infer_cases = []
    for _ in range(400):
        ts = base + rng.choice([0, 600, 7200, 86400 * 3])
        tt = base + rng.choice([0, 1800, 86400])
        infer_cases.append({
            "source_type": rng.choice(TYPES), "target_type": rng.choice(TYPES),
            "source_content": rng.choice(TEXTS), "target_content": rng.choice(TEXTS),
            "source_timestamp": ts, "target_timestamp": tt,
            "source_tags": rng.choice(TAGS), "target_tags": rng.choice(TAGS),
            "similarity": rng.choice([0.3, 0.44, 0.45, 0.5, 0.6, 0.9]),
        })  # fmt: skip
    analyse_cases = []
    for i in range(200):
        pair = [
            {"hash": f"h{i}{side}", "content": rng.choice(TEXTS), "tags": rng.choice(TAGS),
             "created_at": base + rng.choice([0, 3600, 86400 * 2, 86400 * 10])}
            for side in "ab"
        ]  # fmt: skip
        analyse_cases.append([*pair, rng.choice([0.3, 0.5, 0.55, 0.7])])
    gen = np.random.default_rng(3)
    clusters = []
    for _ in range(20):
        centres = gen.standard_normal((3, 16))
        rows = [centres[gen.integers(3)] + gen.normal(0, gen.choice([0.2, 0.6]), 16)
                for _ in range(int(gen.integers(5, 40)))]  # fmt: skip
        clusters.append(np.array(rows).tolist())
    return {"infer": infer_cases, "analyse": analyse_cases, "clusters": clusters,
            "forget": [forget_case(rng, horizon) for horizon in HORIZONS * 5],
            "compress": [compress_case(rng) for _ in range(40)]}  # fmt: skip


def compress_case(rng: random.Random) -> list[dict[str, Any]]:
    """A cluster of 2–4 memories (most with fewer than 15 key concepts)."""
    base = 1_700_000_000.0
    return [
        {"hash": f"c{i}{rng.randrange(10**6)}", "content": rng.choice(TEXTS[:6]),
         "tags": rng.choice(TAGS), "created_at": base + rng.choice([0, 3600, 86400 * 9]),
         "metadata": rng.choice([{}, {"source": "hook"}, {"source": "cli", "n": 2},
                                 {"decay_factor": 0.5, "common_source": "x"}])}
        for i in range(rng.randint(2, 4))
    ]  # fmt: skip


HORIZONS = ["monthly", "quarterly", "yearly"]
OLD_TEXTS = [
    *TEXTS,
    "test",
    "temp note 1234",
    "12 34 56 78 90 !! ?? 12 34",
    "the same words the same words the same words again",
    "The staging database was moved to the new rack in the basement last spring",
    "The staging database was moved to the new rack in the basement last spring, finally",
]


def forget_case(rng: random.Random, horizon: str) -> dict[str, Any]:
    """A pool of old memories (times as offsets from now in days, x.5 so that whole days
    do not flip between the two runs), their scores and last accesses."""
    now = time.time()
    memories, scores, access = [], {}, {}
    for i in range(rng.randint(3, 12)):
        created = now - (rng.choice([366, 400, 800]) + 0.5) * DAY
        updated = now - (rng.choice([5, 100, 200, 366, 400, 800]) + 0.5) * DAY
        doc = {
            "hash": f"f{i:02d}{rng.randrange(10**6)}", "content": rng.choice(OLD_TEXTS),
            "tags": rng.choice([*TAGS, ["temporary"], ["t:temporary"], ["critical"]]),
            "memory_type": rng.choice(["note", "temporary", "decision", "mistake", None]),
            "created_at": created, "updated_at": max(created, updated),
            "metadata": rng.choice([{}, {"quality_score": 0.8}, {"computed_quality": 0.2},
                                    {"failure_count": 4}]),
        }  # fmt: skip
        memories.append(doc)
        scores[doc["hash"]] = rng.choice([0.01, 0.05, 0.2, 0.2, 1.3])
        if rng.random() < 0.4:
            access[doc["hash"]] = now - (rng.choice([3, 150, 250, 500]) + 0.5) * DAY
    return {"memories": memories, "scores": scores, "access": access, "horizon": horizon}


def relevance(h: str, total: float) -> Relevance:
    return Relevance(memory_hash=h, total_score=total, base_importance=1.0, decay_factor=1.0,
                     connection_boost=1.0, access_boost=1.0, metadata={})  # fmt: skip


def test_phases_agree_with_12_4(tmp_path: Path) -> None:
    doc = {**cases(random.Random(5)), "archive": str(tmp_path / "archive")}
    upstream = run_124(doc, tmp_path)
    for case, (label, review, confidence) in zip(doc["infer"], upstream["infer"], strict=True):
        ours, conf = infer(
            (case["source_type"], case["target_type"]),
            (case["source_content"], case["target_content"]),
            (case["source_timestamp"], case["target_timestamp"]),
            (case["source_tags"], case["target_tags"]),
            case["similarity"],
        )
        assert [*review_band(ours, conf)] == [label, review], case
        assert math.isclose(conf, confidence), case
    for (a, b, sim), (reasons, shared, overlap, confidence) in zip(
        doc["analyse"], upstream["analyse"], strict=True
    ):
        found = analyse(candidate(a), candidate(b), sim)
        assert found.reasons == reasons, (a, b)
        assert found.shared_concepts == shared, (a, b)
        assert found.tag_overlap == overlap, (a, b)
        assert math.isclose(found.confidence, confidence), (a, b)
    for vectors, labels in zip(doc["clusters"], upstream["clusters"], strict=True):
        assert simple_labels(np.array(vectors), 5) == labels
    labelled = [label for labels in upstream["clusters"] for label in labels]
    assert max(labelled) >= 1  # the inputs do make clusters
    settings = m.ConsolidationSettings()
    now = time.time()
    for case, theirs in zip(doc["forget"], upstream["forget"], strict=True):
        pool = [
            attrs.evolve(candidate(x), last_accessed=case["access"].get(x["hash"]))
            for x in case["memories"]
        ]
        pool = [attrs.evolve(c, record=attrs.evolve(c.record, metadata=x["metadata"],
                                                     updated_at=x["updated_at"]))
                for c, x in zip(pool, case["memories"], strict=True)]  # fmt: skip
        pool = [as_12_4_reads(c, known_types()) for c in pool]
        scores = {h: relevance(h, t) for h, t in case["scores"].items()}
        decided = forgetting.decide(pool, scores, settings, case["horizon"], now)
        assert [[d.candidate.record.content_hash, d.reasons, d.priority, d.deletable]
                for d in decided] == theirs, case  # fmt: skip
    assert any(t for t in upstream["forget"])
    compared = 0
    for case, theirs in zip(doc["compress"], upstream["compress"], strict=True):
        members = [attrs.evolve(c, record=attrs.evolve(c.record, metadata=x["metadata"]))
                   for c, x in zip(map(candidate, case), case, strict=True)]  # fmt: skip
        themes = theme_keywords(members)
        concepts = compression.key_concepts(members, themes)
        if len(concepts) >= 15:
            continue  # at the cut, 12.4 keeps whichever ties its set order gives
        compared += 1
        metadata = compression.aggregate_metadata(members)
        got = {
            "themes": themes,
            "concepts": sorted(concepts),
            "sentences": compression.representative(members, concepts),
            "tags": compression._tags(members),
            "metadata": metadata,
            "span": compression.temporal_span(members),
        }
        assert json.loads(json.dumps(got)) == theirs, case
    assert compared >= 20
