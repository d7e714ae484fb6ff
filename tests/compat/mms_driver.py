"""Drive a real mcp-memory-service storage from inside its own throwaway virtualenv.

Run by ``tests/compat/mms_env.py`` with that virtualenv's Python; it must not import memhub.
Reads one JSON command document from stdin: ``{"db": PATH, "ops": [{"op": ...}, ...]}`` and
prints one JSON document with a result per op. Logs go to stderr.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

# The pyenv Python here cannot load SQLite extensions; mcp-memory-service's own docs point at
# pysqlite3 for that case.
import pysqlite3.dbapi2

sys.modules["sqlite3"] = pysqlite3.dbapi2

from mcp_memory_service.models.memory import Memory  # noqa: E402
from mcp_memory_service.storage.sqlite_vec import SqliteVecMemoryStorage  # noqa: E402
from mcp_memory_service.utils.hashing import generate_content_hash  # noqa: E402


def memory_json(memory: Any) -> dict[str, Any]:
    return {
        "content_hash": memory.content_hash,
        "content": memory.content,
        "tags": list(memory.tags),
        "memory_type": memory.memory_type,
        "metadata": memory.metadata,
        "created_at": memory.created_at,
    }


async def run(doc: dict[str, Any]) -> list[Any]:
    storage = SqliteVecMemoryStorage(doc["db"])
    await storage.initialize()
    model = type(storage.embedding_model).__name__
    if "Hash" in model:
        raise SystemExit(f"mcp-memory-service fell back to its hash embedder ({model})")
    results: list[Any] = [{"embedding_model": model}]
    for op in doc["ops"]:
        kind = op["op"]
        if kind == "store":
            memory = Memory(
                content=op["content"],
                content_hash=generate_content_hash(op["content"]),
                tags=op.get("tags", []),
                memory_type=op.get("memory_type"),
                metadata=op.get("metadata", {}),
            )
            ok, message = await storage.store(memory)
            results.append({"ok": ok, "message": message, "content_hash": memory.content_hash})
        elif kind == "search":
            found = await storage.retrieve(op["query"], n_results=op.get("n", 5))
            results.append([dict(memory_json(r.memory), score=r.relevance_score) for r in found])
        elif kind == "list":
            results.append([memory_json(m) for m in await storage.get_all_memories()])
        elif kind == "get":
            found_one = await storage.get_by_hash(op["content_hash"])
            results.append(memory_json(found_one) if found_one else None)
        elif kind == "delete":
            ok, message = await storage.delete(op["content_hash"])
            results.append({"ok": ok, "message": message})
        else:
            raise SystemExit(f"unknown op {kind!r}")
    await storage.close()
    return results


if __name__ == "__main__":
    document = json.loads(sys.stdin.read())
    print(json.dumps(asyncio.run(run(document)), default=str))
