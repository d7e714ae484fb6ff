"""Run mcp-memory-service 12.x's own consolidation code on a SQLite file, and read its results.

Executed with the Python of an mcp-memory-service 12.x virtualenv (see ``mms_env.py``); it reads
``{"db": path, "ops": [...]}`` on stdin and prints one JSON list of results:

* ``store``: store ``items`` (``content``, ``tags``, ``memory_type``); their hashes.
* ``consolidate``: 12.x's ``DreamInspiredConsolidator.consolidate(horizon)`` with its default
  config (archive in ``archive``); the report's numbers and errors.
* ``read``: every live memory as 12.x reads it (hash, type, tags, metadata), every graph row
  through 12.x's ``GraphStorage.get_association``, and 12.x's neighbour counts.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3 as stdlib_sqlite3
import sys
from typing import Any

import pysqlite3.dbapi2

sys.modules["sqlite3"] = pysqlite3.dbapi2

from mcp_memory_service.consolidation.base import ConsolidationConfig  # noqa: E402
from mcp_memory_service.consolidation.consolidator import DreamInspiredConsolidator  # noqa: E402
from mcp_memory_service.models.memory import Memory  # noqa: E402
from mcp_memory_service.storage.graph import GraphStorage  # noqa: E402
from mcp_memory_service.storage.sqlite_vec import SqliteVecMemoryStorage  # noqa: E402
from mcp_memory_service.utils.hashing import generate_content_hash  # noqa: E402


async def store(storage: SqliteVecMemoryStorage, items: list[dict[str, Any]]) -> list[str]:
    hashes = []
    for item in items:
        h = generate_content_hash(item["content"])
        ok, message = await storage.store(
            Memory(content=item["content"], content_hash=h, tags=item.get("tags", []),
                   memory_type=item.get("memory_type")),
            skip_semantic_dedup=True,
        )  # fmt: skip
        if not ok:
            raise SystemExit(message)
        hashes.append(h)
    return hashes


async def consolidate(storage: SqliteVecMemoryStorage, op: dict[str, Any]) -> dict[str, Any]:
    config = ConsolidationConfig(archive_location=op["archive"])
    report = await DreamInspiredConsolidator(storage, config).consolidate(op["horizon"])
    return {
        "memories_processed": report.memories_processed,
        "associations_discovered": report.associations_discovered,
        "clusters_created": report.clusters_created,
        "memories_compressed": report.memories_compressed,
        "memories_archived": report.memories_archived,
        "errors": report.errors,
    }


async def read(storage: SqliteVecMemoryStorage, db: str) -> dict[str, Any]:
    memories = await storage.get_all_memories()
    rows = (
        stdlib_sqlite3.connect(db)
        .execute("SELECT source_hash, target_hash FROM memory_graph")
        .fetchall()
    )
    graph = GraphStorage(db)
    edges = [await graph.get_association(s, t) for s, t in rows]
    return {
        "memories": [
            {"content_hash": x.content_hash, "content": x.content, "memory_type": x.memory_type,
             "tags": x.tags, "metadata": x.metadata, "has_embedding": x.embedding is not None}
            for x in memories
        ],
        "edges": edges,
        "connections": await storage.get_memory_connections(),
    }  # fmt: skip


async def run(doc: dict[str, Any]) -> list[Any]:
    storage = SqliteVecMemoryStorage(doc["db"])
    await storage.initialize()
    results: list[Any] = []
    for op in doc["ops"]:
        if op["op"] == "store":
            results.append(await store(storage, op["items"]))
        elif op["op"] == "consolidate":
            results.append(await consolidate(storage, op))
        elif op["op"] == "read":
            results.append(await read(storage, doc["db"]))
        else:
            raise SystemExit(f"unknown op {op['op']!r}")
    await storage.close()
    return results


if __name__ == "__main__":
    document = json.loads(sys.stdin.read())
    print(json.dumps(asyncio.run(run(document)), default=str))
