"""The harness itself: real mcp-memory-service 10.x and 12.x, driven through ``mms_env``.

These prove that what the compat tests rely on is true of the real releases from PyPI: a
fresh database gets the generation's DDL, the real model ranks by meaning, deletes are soft,
12.2 migrates a 10.x file on open, and the driver refuses to run on the hash fallback.
No memhub code is involved.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .mms_env import (
    DRIVER,
    MMS_10,
    MMS_12,
    MODEL_REPO_DIR,
    VERSIONS,
    ensure_mms_venv,
    mms_env_vars,
    run_mms,
)

pytestmark = [pytest.mark.compat, pytest.mark.slow]

MEMORIES: list[dict[str, Any]] = [
    {
        "content": "The staging VPN certificate expires every ninety days; ops rotates it.",
        "tags": ["ops", "security"],
        "memory_type": "note",
        "metadata": {"source": "harness"},
    },
    {
        "content": "Team lunch on Fridays is at the ramen place near the office.",
        "tags": ["social"],
    },
    {
        "content": "The billing service retries failed card payments three times over a week.",
        "tags": ["billing"],
        "memory_type": "decision",
    },
]
QUERIES = {  # query → index of the memory it must rank first
    "how often do we retry a declined credit card charge": 2,
    "where do we eat together at the end of the week": 1,
    "when does the staging certificate run out": 0,
}
V10_VEC0 = "vec0(content_embedding FLOAT[384] distance_metric=cosine)"
V12_VEC0 = "vec0(content_embedding FLOAT[384] distance_metric=cosine, store TEXT partition key)"
V12_MIGRATIONS = [8, 9, 10, 11, 12, 15, 16, 17, 18, 19]


def content_hash(content: str) -> str:
    return hashlib.sha256(content.strip().lower().encode("utf-8")).hexdigest()


def ddl(sql: str | None) -> str:
    """DDL with whitespace normalised, so layout differences between releases do not matter."""
    text = " ".join((sql or "").split())
    return re.sub(r"\s*\)", ")", re.sub(r"\s*\(\s*", "(", text))


def tables(schema: dict[str, Any]) -> dict[str, str]:
    return {r["name"]: ddl(r["sql"]) for r in schema["sqlite_master"] if r["type"] == "table"}


def assert_generation(schema: dict[str, Any], generation: str) -> None:
    found = tables(schema)
    assert {"memories", "memory_embeddings", "metadata", "memory_content_fts"} <= set(found)
    assert found["metadata"] == "CREATE TABLE metadata(key TEXT PRIMARY KEY, value TEXT NOT NULL)"
    assert schema["metadata"]["distance_metric"] == "cosine"
    if generation == "v10":
        assert found["memory_embeddings"].endswith(V10_VEC0)
        assert "migration_registry" not in found
        assert schema["migration_registry"] is None
        assert "schema_version" not in schema["metadata"]
        assert " store " not in found["memories"]
    else:
        assert found["memory_embeddings"].endswith(V12_VEC0)
        assert "migration_registry" in found
        assert [r["version"] for r in schema["migration_registry"]] == V12_MIGRATIONS
        assert schema["metadata"]["schema_version"] == "19"
        assert "store TEXT DEFAULT 'default'" in found["memories"]
        assert "embedding_pending INTEGER NOT NULL DEFAULT 0" in found["memories"]


def raw_master(db: Path) -> list[tuple[str, str, str | None]]:
    """sqlite_master through the stdlib driver (no vec0 needed to read the catalogue)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return sorted(conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall())
    finally:
        conn.close()


def store_op(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"op": "store", "items": items}


@pytest.fixture(params=sorted(VERSIONS), ids=lambda g: f"{g}-{VERSIONS[g]}")
def generation(request: pytest.FixtureRequest) -> str:
    ensure_mms_venv(VERSIONS[request.param])
    return str(request.param)


def test_fresh_database_store_search_delete_schema(tmp_path: Path, generation: str) -> None:
    version = VERSIONS[generation]
    db = tmp_path / "sqlite_vec.db"
    first = run_mms(
        version,
        db,
        {
            "ops": [
                store_op(MEMORIES),
                *({"op": "search", "query": q, "n_results": 3} for q in QUERIES),
                {"op": "count"},
                {"op": "schema"},
            ]
        },
        tmp_path,
        semantic_dedup=True,  # MMS's default; these texts are far apart
    )
    assert first["mms_version"] == version
    assert first["embedding"]["class"] == "SentenceTransformer"
    assert first["embedding"]["dimension"] == 384
    assert first["embedding"]["loaded_from"].endswith(f"{MODEL_REPO_DIR}/snapshots/gt")
    stored, *searches, count, schema = first["results"]
    assert [(r["ok"], r["content_hash"]) for r in stored] == [
        (True, content_hash(m["content"])) for m in MEMORIES
    ]
    for (query, want), hits in zip(QUERIES.items(), searches, strict=True):
        assert len(hits) == 3, query
        assert hits[0]["content"] == MEMORIES[want]["content"], query
        scores = [h["relevance_score"] for h in hits]
        assert scores == sorted(scores, reverse=True)
        assert 0.0 < scores[-1] <= scores[0] <= 1.0
    top = searches[0][0]
    assert top["tags"] == ["billing"]
    assert top["memory_type"] == "decision"
    assert count == 3
    assert_generation(schema, generation)

    # A second process: what the first stored is on disk; delete is soft and sticks.
    doomed = content_hash(MEMORIES[2]["content"])
    second = run_mms(
        version,
        db,
        {
            "ops": [
                {"op": "get", "content_hash": doomed},
                {"op": "delete", "content_hash": doomed},
                {"op": "get", "content_hash": doomed},
                {"op": "delete", "content_hash": doomed},
                {"op": "count"},
                {"op": "search", "query": "how often do we retry a declined credit card charge"},
                {"op": "list"},
            ]
        },
        tmp_path,
    )
    got, deleted, gone, again, count, hits, listed = second["results"]
    assert got is not None
    assert got["content"] == MEMORIES[2]["content"]
    assert got["tags"] == ["billing"]
    assert deleted["ok"] is True
    assert gone is None
    assert again["ok"] is False
    assert count == 2
    assert doomed not in {h["content_hash"] for h in hits}
    assert {m["content_hash"] for m in listed} == {content_hash(m["content"]) for m in MEMORIES[:2]}
    first_memory = next(m for m in listed if m["content"] == MEMORIES[0]["content"])
    assert first_memory["metadata"]["source"] == "harness"
    assert first_memory["tags"] == ["ops", "security"]

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT content_hash, deleted_at FROM memories").fetchall()
    finally:
        conn.close()
    assert len(rows) == 3  # soft delete: the row stays, with deleted_at set
    assert {h for h, at in rows if at is not None} == {doomed}


def test_mms_12_migrates_a_10x_database_on_open(tmp_path: Path) -> None:
    ensure_mms_venv(MMS_10)
    ensure_mms_venv(MMS_12)
    original = tmp_path / "v10" / "sqlite_vec.db"
    created = run_mms(
        MMS_10, original, {"ops": [store_op(MEMORIES), {"op": "schema"}]}, tmp_path / "v10"
    )
    assert [r["ok"] for r in created["results"][0]] == [True] * 3
    assert_generation(created["results"][1], "v10")
    before = raw_master(original)

    copy = tmp_path / "v12" / "sqlite_vec.db"
    copy.parent.mkdir()
    for suffix in ("", "-wal", "-shm"):  # MMS checkpoints on close, but copy what exists
        if Path(f"{original}{suffix}").exists():
            shutil.copy2(f"{original}{suffix}", f"{copy}{suffix}")

    extra = "Deploys to production are frozen during the last week of December."
    migrated = run_mms(
        MMS_12,
        copy,
        {
            "ops": [
                {"op": "schema"},
                {"op": "count"},
                {"op": "list"},
                *({"op": "search", "query": q, "n_results": 1} for q in QUERIES),
                store_op([{"content": extra, "tags": ["release"]}]),
                {"op": "count"},
            ]
        },
        tmp_path / "v12",
    )
    schema, count, listed, *searches, stored, count_after = migrated["results"]
    assert_generation(schema, "v12")
    assert "memory_embeddings_migration_backup" not in tables(schema)
    assert count == 3
    assert {m["content_hash"] for m in listed} == {content_hash(m["content"]) for m in MEMORIES}
    # 12.x KNN filters the vec0 partition store='default': the migrated vectors are in it.
    for (query, want), hits in zip(QUERIES.items(), searches, strict=True):
        assert [h["content"] for h in hits] == [MEMORIES[want]["content"]], query
    assert stored[0]["ok"] is True
    assert count_after == 4
    assert raw_master(original) == before  # only the copy was touched


def test_driver_refuses_the_hash_fallback(tmp_path: Path, generation: str) -> None:
    """With no usable weights MMS silently degrades to hash vectors; the driver must not."""
    python = ensure_mms_venv(VERSIONS[generation])
    empty = tmp_path / "no-model"
    empty.mkdir()
    db = tmp_path / "sqlite_vec.db"
    env = mms_env_vars(tmp_path, db, model_dir=empty)
    done = subprocess.run(
        [str(python), "-I", str(DRIVER), "--db", str(db), json.dumps({"op": "count"})],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stdout == ""
    assert "not using the real all-MiniLM-L6-v2 model" in done.stderr
    assert "hash-embedding fallback" in done.stderr


def test_offline_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "model"
    model.mkdir()
    monkeypatch.setenv("MCP_SEMANTIC_DEDUP_THRESHOLD", "0.9")
    monkeypatch.setenv("MCP_MEMORY_ALLOW_HASH_EMBEDDINGS", "1")
    monkeypatch.setenv("HF_ENDPOINT", "https://example.invalid")
    monkeypatch.setenv("PYTHONPATH", "/somewhere/src")
    env = mms_env_vars(tmp_path / "work", tmp_path / "x.db", model_dir=model)
    snapshots = Path(env["HF_HOME"]) / "hub" / MODEL_REPO_DIR / "snapshots"
    assert [p.name for p in snapshots.iterdir()] == ["gt"]
    assert (snapshots / "gt").resolve() == model.resolve()
    assert env["HF_HUB_OFFLINE"] == env["TRANSFORMERS_OFFLINE"] == "1"
    assert env["MCP_MEMORY_USE_ONNX"] == "0"
    assert env["MCP_MEMORY_STORAGE_BACKEND"] == "sqlite_vec"
    assert env["MCP_MEMORY_SQLITE_PATH"] == str((tmp_path / "x.db").resolve())
    assert env["MCP_SEMANTIC_DEDUP_THRESHOLD"] == "0.9"  # passed through
    assert "MCP_SEMANTIC_DEDUP_ENABLED" not in env  # MMS's own default
    assert "MCP_MEMORY_ALLOW_HASH_EMBEDDINGS" not in env
    assert "HF_ENDPOINT" not in env
    assert "PYTHONPATH" not in env
    assert env["LOG_LEVEL"] == "WARNING"
    forced = mms_env_vars(
        tmp_path / "work", tmp_path / "x.db", model_dir=model, semantic_dedup=False
    )
    assert forced["MCP_SEMANTIC_DEDUP_ENABLED"] == "false"
    # Re-pointing the cache replaces the one snapshot; MMS loads whichever it lists first.
    other = tmp_path / "other"
    other.mkdir()
    mms_env_vars(tmp_path / "work", tmp_path / "x.db", model_dir=other)
    assert [p.resolve() for p in snapshots.iterdir()] == [other.resolve()]
