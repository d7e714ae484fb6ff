"""Builders of the storage tests: memories, vectors, and files as mcp-memory-service leaves them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import apsw
import attrs
import numpy as np

from memhub.config import DEFAULT_PRAGMAS
from memhub.domain.hashing import content_hash
from memhub.embedding import HashEmbedder
from memhub.storage.engine import WriteTxn
from memhub.storage.model import NewMemory
from memhub.storage.sqlite import schema as schema_mod

# The v10 DDL exactly as mcp-memory-service 10.x runs it, plus migration 011.
MMS_V10_DDL = [
    "CREATE TABLE IF NOT EXISTS metadata (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS memories (
        id INTEGER PRIMARY KEY AUTOINCREMENT, content_hash TEXT UNIQUE NOT NULL,
        content TEXT NOT NULL, tags TEXT, memory_type TEXT, metadata TEXT, created_at REAL,
        updated_at REAL, created_at_iso TEXT, updated_at_iso TEXT, deleted_at REAL DEFAULT NULL)""",
    """CREATE VIRTUAL TABLE IF NOT EXISTS memory_embeddings USING vec0(
        content_embedding FLOAT[384] distance_metric=cosine)""",
    "INSERT OR REPLACE INTO metadata (key, value) VALUES ('distance_metric', 'cosine')",
    "CREATE INDEX IF NOT EXISTS idx_content_hash ON memories(content_hash)",
    "CREATE INDEX IF NOT EXISTS idx_created_at ON memories(created_at)",
    "CREATE INDEX IF NOT EXISTS idx_memory_type ON memories(memory_type)",
    "CREATE INDEX IF NOT EXISTS idx_deleted_at ON memories(deleted_at)",
    """CREATE VIRTUAL TABLE IF NOT EXISTS memory_content_fts USING fts5(
        content, content='memories', content_rowid='id', tokenize='trigram')""",
    """CREATE TRIGGER IF NOT EXISTS memories_fts_ai AFTER INSERT ON memories BEGIN
        INSERT INTO memory_content_fts(rowid, content) VALUES (new.id, new.content); END""",
    """CREATE TRIGGER IF NOT EXISTS memories_fts_au AFTER UPDATE ON memories BEGIN
        DELETE FROM memory_content_fts WHERE rowid = old.id;
        INSERT INTO memory_content_fts(rowid, content) VALUES (new.id, new.content); END""",
    """CREATE TRIGGER IF NOT EXISTS memories_fts_ad AFTER DELETE ON memories BEGIN
        DELETE FROM memory_content_fts WHERE rowid = old.id; END""",
    "INSERT OR REPLACE INTO metadata (key, value) VALUES ('fts5_enabled', 'true')",
    "ALTER TABLE memories ADD COLUMN parent_id TEXT",
    "ALTER TABLE memories ADD COLUMN version INTEGER DEFAULT 1",
    "ALTER TABLE memories ADD COLUMN confidence REAL DEFAULT 1.0",
    "ALTER TABLE memories ADD COLUMN last_accessed INTEGER",
    "ALTER TABLE memories ADD COLUMN superseded_by TEXT",
]


def open_rw(path: Path, *, create: bool = True) -> apsw.Connection:
    return schema_mod.connect(path, readonly=False, pragmas=dict(DEFAULT_PRAGMAS), create=create)


def build_mms_v10_db(path: Path, rows: list[tuple[str, str, str | None, float, bool]]) -> None:
    """A database as mcp-memory-service 10.x leaves it: (content, tags, type, created, deleted).

    Vectors come from the hash embedder so tests can query them; legacy tags are written raw.
    """
    embedder = HashEmbedder()
    conn = open_rw(path)
    with conn:
        for sql in MMS_V10_DDL:
            conn.execute(sql)
        for content, tags, memory_type, created, deleted in rows:
            insert_legacy_row(
                conn, content, tags, memory_type, created, deleted=deleted, embedder=embedder
            )
    conn.close()


def insert_legacy_row(
    conn: apsw.Connection,
    content: str,
    tags: str | None,
    memory_type: str | None,
    created: float,
    *,
    deleted: bool = False,
    embedder: HashEmbedder | None = None,
    store: str | None = None,
) -> int:
    """One row written the way another program writes it (raw tags, 'x' ISO strings)."""
    columns = "content_hash, content, tags, memory_type, metadata, created_at, updated_at, "
    columns += "created_at_iso, updated_at_iso, deleted_at" + (", store" if store else "")
    values = [content_hash(content), content, tags, memory_type, "{}", created, created, "x", "x"]
    values.append(created + 1 if deleted else None)
    if store:
        values.append(store)
    conn.execute(
        f"INSERT INTO memories ({columns}) VALUES ({', '.join('?' * len(values))})", values
    )
    rowid = conn.last_insert_rowid()
    if not deleted:
        vec = (embedder or HashEmbedder()).encode([content])[0]
        partition = ", store" if store else ""
        conn.execute(
            f"INSERT INTO memory_embeddings (rowid, content_embedding{partition}) "
            f"VALUES (?, ?{', ?' if store else ''})",
            [rowid, vec.astype("<f4").tobytes(), *([store] if store else [])],
        )
    return rowid


def make_item(
    embedder: HashEmbedder,
    content: str,
    tags: list[str] | None = None,
    memory_type: str = "note",
    *,
    skip_semantic: bool = False,
    **fields: Any,
) -> NewMemory:
    item = NewMemory(
        content=content,
        content_hash=content_hash(content),
        tags=tags or [],
        memory_type=memory_type,
        metadata={},
        vector=embedder.encode([content])[0],
        skip_semantic_dedup=skip_semantic,
    )
    return attrs.evolve(item, **fields) if fields else item


def random_unit(rng: np.random.Generator, dim: int = 384) -> np.ndarray:
    v = rng.standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def storing(item: NewMemory) -> Callable[[WriteTxn], object]:
    """The write that stores ``item`` (for batches of many)."""
    return lambda txn: txn.store(item)
