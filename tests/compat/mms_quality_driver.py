"""Run ``memory_quality`` calls through mcp-memory-service 12.x's own handler.

Executed with the Python of an mcp-memory-service 12.x virtualenv (see ``mms_env.py``); it
reads ``{"db": path, "ops": [...]}`` on stdin and prints one JSON list of results: for a
``store`` op the content hash, for a ``quality`` op the handler's text.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import pysqlite3.dbapi2

sys.modules["sqlite3"] = pysqlite3.dbapi2

from mcp_memory_service.models.memory import Memory  # noqa: E402
from mcp_memory_service.server.handlers.quality import handle_memory_quality  # noqa: E402
from mcp_memory_service.storage.sqlite_vec import SqliteVecMemoryStorage  # noqa: E402
from mcp_memory_service.utils.hashing import generate_content_hash  # noqa: E402


class Server:
    def __init__(self, storage: SqliteVecMemoryStorage) -> None:
        self.storage = storage

    async def _ensure_storage_initialized(self) -> SqliteVecMemoryStorage:
        return self.storage


async def run(doc: dict[str, Any]) -> list[Any]:
    storage = SqliteVecMemoryStorage(doc["db"])
    await storage.initialize()
    server = Server(storage)
    results: list[Any] = []
    for op in doc["ops"]:
        if op["op"] == "store":
            h = generate_content_hash(op["content"])
            ok, message = await storage.store(
                Memory(content=op["content"], content_hash=h, tags=op.get("tags", []),
                       metadata=op.get("metadata", {}))
            )  # fmt: skip
            if not ok:
                raise SystemExit(message)
            results.append(h)
        elif op["op"] == "quality":
            [text] = await handle_memory_quality(server, op["arguments"])
            results.append(text.text)
        else:
            raise SystemExit(f"unknown op {op['op']!r}")
    await storage.close()
    return results


if __name__ == "__main__":
    document = json.loads(sys.stdin.read())
    print(json.dumps(asyncio.run(run(document)), default=str))
