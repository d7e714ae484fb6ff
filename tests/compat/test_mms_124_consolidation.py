"""``memory_consolidate run`` on a file shared with mcp-memory-service 12.4.0.

12.4 stores the memories (its model, its file), some of them made days old. On a copy, 12.4's
own consolidator runs the monthly horizon; memhub runs monthly on the original: every memory's
relevance score must be the same number. memhub's run also associates, clusters and
summarises; 12.4 reads those results back with its own storage and graph code, and
consolidates the file itself without an error (``mms_consolidation_driver.py`` runs 12.4's
code).
"""

from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import trio

from memhub.domain.timestamps import iso_utc
from memhub.mcp_bridge.v12_tools import consolidate_run
from memhub.transport.client import open_daemon_client
from tests.daemon.helpers import assert_consistent, daemon_process

from .mms_env import run_driver
from .test_mms_124_quality import ClientDaemon

pytestmark = [pytest.mark.compat, pytest.mark.slow]

VERSION = "12.4.0"
DRIVER = Path(__file__).with_name("mms_consolidation_driver.py")
CLUSTER = [
    f"The nightly backup of the orders database to object storage finished in {n} minutes"
    for n in (11, 12, 13, 14, 15, 16)
]
ITEMS: list[dict[str, Any]] = [
    *({"content": c, "tags": ["backup", "ops"]} for c in CLUSTER),
    {"content": "Decided to pin numpy below 2 until the wheels are rebuilt",
     "memory_type": "decision", "tags": ["python"]},
    {"content": "Learned that the flaky test was caused by a shared temp directory",
     "memory_type": "learning", "tags": ["testing", "important"]},
    {"content": "Error: TLS handshake timeout calling the billing API", "memory_type": "error"},
    {"content": "Team lunch moved to Thursday at the noodle bar", "tags": ["social"]},
]  # fmt: skip


def run_124(db: Path, ops: list[dict[str, Any]], work: Path) -> list[Any]:
    result: list[Any] = run_driver(DRIVER, {"db": str(db), "ops": ops}, work, version=VERSION)
    return result


async def memhub_runs(db: Path, archive: Path, horizons: list[str]) -> list[str]:
    texts = []
    env = {"MEMHUB_EMBEDDER": "model", "MCP_CONSOLIDATION_ARCHIVE_PATH": str(archive)}
    async with daemon_process(db, env) as (_, info):
        async with open_daemon_client(f"ws://{info.host}:{info.port}", info.token) as client:
            for horizon in horizons:
                with pytest.MonkeyPatch.context() as patch:
                    patch.setenv("MCP_CONSOLIDATION_ARCHIVE_PATH", str(archive))
                    result = await consolidate_run.run(ClientDaemon(client), horizon)
                texts.append(result.text)
    return texts


def backdate(db: Path, days: dict[str, float]) -> None:
    """Make memories older (created and updated ``days`` ago), the ISO columns too: 12.4 takes
    a row whose epoch and ISO disagree by a day or more for one created now."""
    conn = sqlite3.connect(db)
    now = time.time()
    with conn:
        for h, d in days.items():
            at = now - d * 86400
            iso = iso_utc(at)
            conn.execute(
                "UPDATE memories SET created_at = ?, updated_at = ?, created_at_iso = ?, "
                "updated_at_iso = ? WHERE content_hash = ?",
                (at, at, iso, iso, h),
            )
    conn.close()


def scores(read: dict[str, Any]) -> dict[str, float]:
    return {
        x["content_hash"]: x["metadata"]["relevance_score"]
        for x in read["memories"]
        if "relevance_score" in x["metadata"]
    }


def test_memhubs_run_reads_back_in_12_4_and_scores_the_same(tmp_path: Path) -> None:
    db = tmp_path / "sqlite_vec.db"
    copy = tmp_path / "copy.db"
    archive = str(tmp_path / "archive")
    [hashes] = run_124(db, [{"op": "store", "items": ITEMS}], tmp_path)
    backdate(db, dict(zip(hashes[6:], (2.5, 10.5, 20.5, 29.5), strict=True)))
    with sqlite3.connect(db) as source, sqlite3.connect(copy) as target:
        source.backup(target)  # the WAL's pages too
    upstream = run_124(
        copy,
        [{"op": "consolidate", "horizon": "monthly", "archive": archive}, {"op": "read"}],
        tmp_path,
    )
    assert upstream[0]["errors"] == []
    [monthly] = trio.run(memhub_runs, db, tmp_path / "archive", ["monthly"])
    assert monthly.startswith("Consolidation completed successfully!\n\nTime Horizon: monthly\n")
    assert "\nMemories Processed: 10\n" in monthly
    assert "\nClusters Created: 1\nMemories Compressed: 1\n" in monthly
    [read, again, after] = run_124(
        db, [{"op": "read"}, {"op": "consolidate", "horizon": "weekly", "archive": archive},
             {"op": "read"}], tmp_path,
    )  # fmt: skip
    # decay: memhub's numbers are 12.4's, memory by memory
    theirs, ours = scores(upstream[1]), scores(read)
    assert set(theirs) == set(hashes) <= set(ours)
    for h in hashes:
        assert math.isclose(ours[h], theirs[h], rel_tol=1e-12), h
    memories = {x["content_hash"]: x for x in read["memories"]}
    assocs = [x for h, x in memories.items() if h.startswith("assoc_")]
    assert assocs
    for x in assocs:
        a, b = x["metadata"]["source_memory_hashes"]
        assert x["content_hash"] == f"assoc_{a[:8]}_{b[:8]}"
        assert x["memory_type"] == "observation"
        assert x["tags"][:2] == ["association", "discovered"]
        assert set(x["metadata"]) >= {
            "similarity_score", "connection_type", "discovery_method", "discovery_date",
            "shared_concepts", "temporal_relationship", "tag_overlap", "confidence_score",
            "analysis_version",
        }  # fmt: skip
    [summary] = [x for x in memories.values() if x["memory_type"] == "pattern"]
    assert summary["tags"][:2] == ["cluster", "compressed"]
    assert sorted(summary["metadata"]["source_memory_hashes"]) == sorted(hashes[:6])
    assert summary["content"].startswith("Cluster of 6 related memories about ")
    edges = [e for e in read["edges"] if e is not None]
    assert edges
    assert len(edges) == len(read["edges"])  # 12.4 decodes every row memhub wrote
    assert {e["metadata"]["discovery_method"] for e in edges} == {"creative_association"}
    for x in assocs:
        a, _ = x["metadata"]["source_memory_hashes"]
        assert read["connections"].get(a, 0) >= 1
    # 12.4 consolidates memhub's file itself, and sees memhub's associations as existing ones
    assert again["errors"] == []
    pairs = [
        tuple(sorted(x["metadata"]["source_memory_hashes"]))
        for x in after["memories"]
        if x["content_hash"].startswith("assoc_")
    ]
    assert len(pairs) == len(set(pairs))
    assert_consistent(db)
