"""Run agent-scoped operations through a real mcp-memory-service 12.x ``MemoryService``.

Executed with the Python of an mcp-memory-service 12.x virtualenv (see ``mms_env.py``); it
reads ``{"db": path, "ops": [...]}`` on stdin and prints one JSON list of results. Unlike
``mms_driver.py`` (storage level), it goes through the service layer, which is where 12.x
resolves ``agent_id`` on a store and filters by it on a list or search.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import pysqlite3.dbapi2

sys.modules["sqlite3"] = pysqlite3.dbapi2

from mcp_memory_service.services.memory_service import MemoryService  # noqa: E402
from mcp_memory_service.storage.sqlite_vec import SqliteVecMemoryStorage  # noqa: E402


async def run(doc: dict[str, Any]) -> list[Any]:
    storage = SqliteVecMemoryStorage(doc["db"])
    await storage.initialize()
    service = MemoryService(storage)
    results: list[Any] = []
    for op in doc["ops"]:
        kind = op["op"]
        if kind == "store":
            stored = await service.store_memory(
                content=op["content"], tags=op.get("tags"), agent_id=op.get("agent_id")
            )
            results.append({"success": stored.get("success"), "error": stored.get("error")})
        elif kind == "list":
            page = await service.list_memories(page_size=100, agent_id=op.get("agent_id"))
            results.append(sorted(m["content"] for m in page["memories"]))
        elif kind == "search":
            found = await storage.search_memories(
                query=op["query"], limit=op.get("limit", 10), agent_id=op.get("agent_id")
            )
            results.append([m["content"] for m in found["memories"]])
        else:
            raise SystemExit(f"unknown op {kind!r}")
    await storage.close()
    return results


if __name__ == "__main__":
    document = json.loads(sys.stdin.read())
    print(json.dumps(asyncio.run(run(document)), default=str))
