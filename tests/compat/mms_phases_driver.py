"""Run mcp-memory-service 12.x's pure consolidation functions on given inputs.

Executed with the Python of an mcp-memory-service 12.x virtualenv (see ``mms_env.py``); reads
``{"infer": [...], "analyse": [...], "clusters": [...]}`` on stdin and prints the same keys
with 12.x's answers: relationship inference ``[label, confidence]`` (after the review band),
association analysis ``[reasons, sorted shared concepts, sorted tag overlap, confidence]``,
and the ``simple`` clustering labels of each set of vectors.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, timezone
from typing import Any

import numpy as np
from mcp_memory_service.consolidation.associations import CreativeAssociationEngine
from mcp_memory_service.consolidation.base import ConsolidationConfig
from mcp_memory_service.consolidation.clustering import SemanticClusteringEngine
from mcp_memory_service.consolidation.compression import SemanticCompressionEngine
from mcp_memory_service.consolidation.decay import RelevanceScore
from mcp_memory_service.consolidation.forgetting import ControlledForgettingEngine
from mcp_memory_service.consolidation.relationship_inference import (
    RelationshipInferenceEngine,
    apply_review_band,
)
from mcp_memory_service.models.memory import Memory


def memory(doc: dict[str, Any]) -> Memory:
    iso = datetime.utcfromtimestamp(doc["created_at"]).isoformat() + "Z"
    return Memory(content=doc["content"], content_hash=doc["hash"], tags=doc.get("tags", []),
                  memory_type=doc.get("memory_type"), created_at=doc["created_at"],
                  created_at_iso=iso)  # fmt: skip


async def run(doc: dict[str, Any]) -> dict[str, Any]:
    engine = RelationshipInferenceEngine(min_confidence=0.6)
    inferred = []
    for case in doc["infer"]:
        label, confidence = await engine.infer_relationship_type(**case)
        inferred.append([*apply_review_band(label, confidence), confidence])
    associations = CreativeAssociationEngine(ConsolidationConfig())
    analysed = []
    for a, b, similarity in doc["analyse"]:
        found = await associations._analyze_association(memory(a), memory(b), similarity)
        analysed.append([found.connection_reasons, sorted(found.shared_concepts),
                         sorted(found.tag_overlap), found.confidence_score])  # fmt: skip
    clustering = SemanticClusteringEngine(ConsolidationConfig(clustering_algorithm="simple"))
    labels = [
        [int(x) for x in await clustering._simple_clustering(np.array(vectors))]
        for vectors in doc["clusters"]
    ]
    return {"infer": inferred, "analyse": analysed, "clusters": labels,
            "forget": [await forget(case, doc["archive"]) for case in doc["forget"]],
            "compress": [await compress(case, clustering) for case in doc["compress"]]}  # fmt: skip


async def compress(case: list[dict[str, Any]], clustering: SemanticClusteringEngine) -> Any:
    """12.x's pieces of a cluster's summary: theme keywords, key concepts (sorted: ties are
    in set order), representative sentences, tags, aggregated metadata, temporal span."""
    members = []
    for doc in case:
        x = memory(doc)
        x.metadata = doc.get("metadata", {})
        members.append(x)
    engine = SemanticCompressionEngine(ConsolidationConfig())
    themes = await clustering._extract_theme_keywords(members)
    concepts = await engine._extract_key_concepts(members, themes)
    metadata = engine._aggregate_metadata(members)
    for key, value in metadata.items():
        if key.startswith("varied_"):
            metadata[key] = sorted(value)
    return {
        "themes": themes,
        "concepts": sorted(concepts),
        "sentences": engine._select_representative_sentences(members, concepts),
        "tags": engine._aggregate_tags(members),
        "metadata": metadata,
        "span": engine._calculate_temporal_span(members),
    }


async def forget(case: dict[str, Any], archive: str) -> list[Any]:
    """12.x's forgetting candidates of a pool: [hash, reasons, priority, deletable]."""
    engine = ControlledForgettingEngine(ConsolidationConfig(archive_location=archive))
    pool = []
    for doc in case["memories"]:
        x = memory(doc)
        x.metadata = doc.get("metadata", {})
        x.updated_at = doc["updated_at"]
        pool.append(x)
    scores = {
        h: RelevanceScore(memory_hash=h, total_score=t, base_importance=1.0, decay_factor=1.0,
                          connection_boost=1.0, access_boost=1.0, metadata={})
        for h, t in case["scores"].items()
    }  # fmt: skip
    access = {h: datetime.fromtimestamp(t, timezone.utc)  # noqa: UP017 - 12.x's Python
              for h, t in case["access"].items()}  # fmt: skip
    found = await engine._identify_forgetting_candidates(pool, scores, access, case["horizon"])
    return [[c.memory.content_hash, c.forgetting_reasons, c.archive_priority, c.can_be_deleted]
            for c in found]  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(json.loads(sys.stdin.read())))))
