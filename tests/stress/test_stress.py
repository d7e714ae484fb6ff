"""memhub stress: pure parts, smoke runs of every variant, and an integrity checker that bites."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from memhub.config import DEFAULT_PRAGMAS
from memhub.domain.hashing import content_hash
from memhub.embedding import HashEmbedder
from memhub.storage.sqlite import schema as schema_mod
from memhub.stress import integrity, stats
from memhub.stress.workload import Op, Workload
from tests.storage.builders import build_mms_v10_db


def _ops(seed: int, client: int, n: int = 300) -> list[Op]:
    workload = Workload(seed=seed, client=client)
    return [workload.next_op() for _ in range(n)]


def test_workload_is_deterministic_and_mixed():
    a = _ops(3, 1)
    assert a == _ops(3, 1)
    assert a != _ops(3, 2)
    kinds = {op.kind for op in a}
    assert kinds == {"store", "search", "list", "update", "delete"}
    assert any(op.expect_duplicate for op in a)


def test_percentiles_and_ratios():
    values = [i / 1000 for i in range(1, 101)]
    summary = stats.summarize(values, wall_s=2.0)
    assert summary["count"] == 100
    assert summary["per_s"] == 50.0
    assert summary["p50_ms"] == pytest.approx(50.5)
    assert summary["max_ms"] == 100.0
    assert stats.ratio(11, 10) == 1.1


def _ledger(hashes_ok, deleted=()):
    records = [{"op": "store", "outcome": "ok", "hash": h, "t": 1.0} for h in hashes_ok]
    records += [{"op": "delete", "outcome": "ok", "hash": h, "t": 2.0} for h in deleted]
    return records


@pytest.fixture
def small_db(tmp_path):
    db = tmp_path / "s.db"
    texts = ["alpha memory text", "beta memory text", "gamma memory text"]
    build_mms_v10_db(db, [(t, "x", "note", 1e9 + i, False) for i, t in enumerate(texts)])
    return db, [content_hash(t) for t in texts]


def _failed(checks):
    return {c.name for c in checks if not c.ok}


def test_integrity_passes_on_a_consistent_db(small_db):
    db, hashes = small_db
    assert _failed(integrity.verify(db, _ledger(hashes), HashEmbedder())) == set()


def test_integrity_detects_a_lost_acknowledged_write(small_db):
    db, hashes = small_db
    ledger = _ledger([*hashes, content_hash("acked but never written")])
    failed = _failed(integrity.verify(db, ledger, HashEmbedder()))
    assert failed == {"acked_stores_present", "counts_consistent"}


def test_integrity_detects_a_delete_that_did_not_happen(small_db):
    db, hashes = small_db
    failed = _failed(integrity.verify(db, _ledger(hashes, deleted=[hashes[0]]), HashEmbedder()))
    assert failed == {"acked_deletes_gone", "counts_consistent"}


def test_integrity_detects_orphans_and_wrong_vectors(small_db):
    db, hashes = small_db
    conn = schema_mod.connect(db, readonly=False, pragmas=dict(DEFAULT_PRAGMAS))
    with conn:
        # swap two vectors: every row still has one, but not its own
        rows = conn.execute("SELECT rowid, content_embedding FROM memory_embeddings").fetchall()
        conn.execute(
            "UPDATE memory_embeddings SET content_embedding = ? WHERE rowid = ?",
            (rows[1][1], rows[0][0]),
        )
    failed = _failed(integrity.verify(db, _ledger(hashes), HashEmbedder()))
    assert failed == {"vectors_match_reembedding"}
    with conn:
        conn.execute("DELETE FROM memory_embeddings WHERE rowid = ?", (rows[2][0],))
    failed = _failed(integrity.verify(db, _ledger(hashes), HashEmbedder()))
    assert "memories_have_embeddings" in failed
    conn.close()


def stress(*args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "memhub", "stress", "--embedder", "hash", "--json", *args],
        capture_output=True,
        timeout=600,
    )
    report: dict[str, Any] = json.loads(result.stdout)
    assert result.returncode == 0, json.dumps(report, indent=1)[-3000:]
    return report


def _clean(run: dict[str, Any]) -> None:
    assert run["errors"] == {}
    assert run["client_failures"] == []
    assert all(c["ok"] for c in run["checks"]), run["checks"]
    assert run["outcomes"]["ok"] > 0


@pytest.mark.slow
def test_smoke_plain_and_compare():
    report = stress("--clients", "3", "--duration", "2", "--compare", "--rate", "5")
    assert report["passed"]
    assert [(r["config"]["clients"], r["config"]["rate"]) for r in report["runs"]] == [
        (1, 5.0),
        (3, 5.0),
        (1, 0.0),
        (3, 0.0),
    ]
    for run in report["runs"]:
        _clean(run)
    assert report["compare"]["saturation_throughput_ratio"] > 0
    assert report["compare"]["light_load_p50_ratio"]["store"] > 0


@pytest.mark.slow
def test_smoke_kill_daemon_every():
    report = stress("--clients", "3", "--duration", "5", "--kill-daemon-every", "1.5")
    run = report["runs"][0]
    _clean(run)
    assert run["daemon_kills"] >= 2


@pytest.mark.slow
def test_smoke_legacy_writer():
    report = stress("--clients", "2", "--duration", "4", "--legacy-writer")
    run = report["runs"][0]
    _clean(run)
    assert run["per_op"]["store"]["count"] > 0


@pytest.mark.slow
def test_smoke_via_mcp_bridges():
    report = stress("--clients", "2", "--duration", "4", "--via", "mcp")
    run = report["runs"][0]
    _clean(run)
    assert run["config"]["via"] == "mcp"
