"""A process that writes the database directly, the way mcp-memory-service does.

It proves coexistence: while the daemon serves its clients, this process opens the same file
with its own connection (WAL, ``busy_timeout=5000``, ``synchronous=NORMAL``) and stores memories
with upstream's transaction shape: an exact-duplicate SELECT outside any transaction, then a
*deferred* transaction opened by a SAVEPOINT that inserts the row and its vector, then COMMIT,
retrying "locked"/"busy" five times with exponential backoff from 0.2 s. It writes the same
JSONL ledger as the clients, so its acknowledged writes are verified too.

``python -m memhub.stress.legacy_writer --db DB --ledger FILE --duration S --embedder hash|model``
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import apsw

from memhub.domain.hashing import content_hash
from memhub.domain.timestamps import iso_utc
from memhub.embedding import Embedder, create_embedder
from memhub.storage.sqlite import schema as schema_mod
from memhub.stress.workload import Workload

LEGACY_PRAGMAS = {"busy_timeout": "5000", "journal_mode": "WAL", "synchronous": "NORMAL"}


def store_like_upstream(
    conn: apsw.Connection, schema: schema_mod.Schema, text: str, vector: bytes
) -> str:
    """One store with upstream's shape; returns ``ok`` or ``duplicate``."""
    h = content_hash(text)
    if conn.execute(
        "SELECT 1 FROM memories WHERE content_hash = ? AND deleted_at IS NULL", (h,)
    ).fetchall():
        return "duplicate"
    now = time.time()
    conn.execute("SAVEPOINT legacy_store")  # opens a deferred transaction: read, then write
    try:
        conn.execute("DELETE FROM memories WHERE content_hash = ? AND deleted_at IS NOT NULL", (h,))
        columns = (
            "content_hash, content, tags, memory_type, metadata, created_at, updated_at, "
            "created_at_iso, updated_at_iso"
        )
        values = [h, text, "legacy", "note", "{}", now, now, iso_utc(now), iso_utc(now)]
        if schema.has_store:
            columns += ", store"
            values.append("default")
        conn.execute(
            f"INSERT INTO memories ({columns}) VALUES ({','.join('?' * len(values))})", values
        )
        rowid = conn.last_insert_rowid()
        if schema.vec_partitioned:
            conn.execute(
                "INSERT INTO memory_embeddings (rowid, content_embedding, store) "
                "VALUES (?, ?, 'default')",
                (rowid, vector),
            )
        else:
            conn.execute(
                "INSERT INTO memory_embeddings (rowid, content_embedding) VALUES (?, ?)",
                (rowid, vector),
            )
        conn.execute("RELEASE legacy_store")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK TO legacy_store")
            conn.execute("RELEASE legacy_store")
        raise
    return "ok"


def run(db: Path, ledger: Path, duration: float, embedder: Embedder, seed: int) -> None:
    conn = schema_mod.connect(db, readonly=False, pragmas=LEGACY_PRAGMAS)
    schema = schema_mod.inspect(conn, db)
    assert schema is not None, "the daemon creates the schema first"
    workload = Workload(seed=seed, client=9999)
    end = time.monotonic() + duration
    rng = random.Random(seed)
    with ledger.open("a", encoding="utf-8") as out:
        n = 0
        while time.monotonic() < end:
            text = workload.text(n) + " (legacy)"
            n += 1
            blob = embedder.encode([text])[0].astype("<f4").tobytes()
            started = time.perf_counter()
            delay = 0.2
            outcome, error = "error", None
            for attempt in range(6):
                try:
                    outcome = store_like_upstream(conn, schema, text, blob)
                    break
                except (apsw.BusyError, apsw.LockedError) as exc:
                    error = str(exc)
                    if attempt == 5:
                        break
                    time.sleep(delay * rng.uniform(0.9, 1.1))
                    delay *= 2
            record = {
                "op": "store",
                "client": -1,
                "hash": content_hash(text),
                "outcome": outcome,
                "latency_s": time.perf_counter() - started,
                "t": time.time(),
                "attempts": 1,
                "legacy": True,
            }
            if outcome == "error":
                record["error"] = error
            out.write(json.dumps(record) + "\n")
            out.flush()
            time.sleep(0.02)
    conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="memhub.stress.legacy_writer")
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--ledger", type=Path, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--embedder", choices=("hash", "model"), default="model")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    embedder = create_embedder(args.embedder, "all-MiniLM-L6-v2", 1)
    print("ready", flush=True)
    sys.stdin.readline()
    run(args.db, args.ledger, args.duration, embedder, args.seed)


if __name__ == "__main__":
    main()
