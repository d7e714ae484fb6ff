"""Daemon figures for docs/benchmarks.md: store throughput, search latency by size, RSS.

Usage::

    python bench/daemon_figures.py stores --clients 1,8 --per-client 60
    python bench/daemon_figures.py search --sizes 1000,10000,100000 --queries 200
    python bench/daemon_figures.py all --json results.json

Everything runs against real ``memhub serve`` processes with the real model (unless
``--embedder hash``) on fresh temporary databases. Store throughput uses K separate client
processes, each storing one memory at a time (as a Claude app does) until all are done.
Search databases are filled directly with random unit vectors (search cost does not depend on
what the vectors mean) and queried with distinct texts, so every query pays for its embedding.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from memhub.config import DEFAULT_PRAGMAS  # noqa: E402
from memhub.discovery import RuntimeInfo, spawn_daemon, wait_until_ready  # noqa: E402
from memhub.domain.hashing import content_hash  # noqa: E402
from memhub.protocol import messages as m  # noqa: E402
from memhub.storage.sqlite import schema as schema_mod  # noqa: E402
from memhub.transport.client import open_daemon_client  # noqa: E402

WORDS = (
    "deploy rollback cluster staging postgres redis kafka consumer latency budget alert pager "
    "runbook terraform module ansible inventory grafana dashboard prometheus scrape interval "
    "python typing ruff mypy pytest fixture trio nursery websocket token origin sqlite vector "
    "embedding model batch cache eviction quota billing invoice customer onboarding roadmap "
    "sprint retro velocity design review frontend react vite bundle chunk lazy route session "
    "cookie oauth refresh secret vault rotation backup snapshot restore region failover dns"
).split()


def make_text(rng: random.Random, i: int) -> str:
    words = rng.sample(WORDS, 14)
    return f"Note {i}: " + " ".join(words) + "."


def start_daemon(db: Path, embedder: str) -> tuple[subprocess.Popen[bytes], RuntimeInfo]:
    env = dict(os.environ, MEMHUB_EMBEDDER=embedder, HF_HUB_OFFLINE="1")
    proc = spawn_daemon(db.resolve(), Path(os.devnull), env)
    return proc, wait_until_ready(db.resolve(), proc, 120)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(60)


# -- store throughput -------------------------------------------------------------------------

CLIENT = r"""
import json, random, sys, time, trio
from memhub.protocol import messages as m
from memhub.transport.client import open_daemon_client
sys.path.insert(0, sys.argv[5])
from daemon_figures import make_text

async def main(url, token, n, seed):
    rng = random.Random(seed)
    lat = []
    dup = 0
    async with open_daemon_client(url, token, client_name="bench") as c:
        print("ready", flush=True)
        sys.stdin.readline()
        start = time.perf_counter()
        for i in range(n):
            t = time.perf_counter()
            try:
                await c.call(m.Store(id=0, content=make_text(rng, seed * 100000 + i)))
            except Exception as exc:
                dup += 1
            lat.append(time.perf_counter() - t)
        print(json.dumps({"lat": lat, "errors": dup, "start": start, "end": time.perf_counter()}))

trio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
"""


def bench_stores(clients: int, per_client: int, embedder: str, prefill: int = 0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "stores.db"
        if prefill:
            name = "hash:v1" if embedder == "hash" else "sentence-transformers:all-MiniLM-L6-v2"
            fill(db, prefill, name)
        proc, info = start_daemon(db, embedder)
        try:
            url = info.url
            workers = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        CLIENT,
                        url,
                        info.token,
                        str(per_client),
                        str(k + 1),
                        str(ROOT / "bench"),
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                )
                for k in range(clients)
            ]
            for w in workers:
                assert w.stdout is not None
                assert w.stdout.readline().strip() == b"ready"
            for w in workers:  # all start together
                assert w.stdin is not None
                w.stdin.write(b"go\n")
                w.stdin.flush()
            results = [json.loads(w.communicate(timeout=1200)[0]) for w in workers]
            rss_mb = psutil.Process(proc.pid).memory_info().rss / 2**20
            stats = _health(info)
        finally:
            stop(proc)
    latencies = [x for r in results for x in r["lat"]]
    span = max(r["end"] for r in results) - min(r["start"] for r in results)
    stored = len(latencies) - sum(r["errors"] for r in results)
    return {
        "clients": clients,
        "stores": len(latencies),
        "errors": sum(r["errors"] for r in results),
        "stores_per_s": round(stored / span, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(float(np.percentile(latencies, 99)) * 1000, 1),
        "writer_mean_batch": round(stats.writer.mean_batch_size, 2),
        "embedder_mean_batch": round(stats.embedder.mean_batch_size, 2),
        "daemon_rss_mb": round(rss_mb),
    }


def _health(info: RuntimeInfo) -> m.HealthReport:
    async def get() -> m.HealthReport:
        async with open_daemon_client(info.url, info.token) as c:
            reply = await c.call(m.Health(id=0))
            assert isinstance(reply, m.HealthReport)
            return reply

    return trio.run(get)


# -- search latency ---------------------------------------------------------------------------


def fill(db: Path, size: int, embedder_name: str) -> None:
    """A v12 database with ``size`` memories and random unit vectors, written in bulk."""
    conn = schema_mod.connect(db, readonly=False, pragmas=dict(DEFAULT_PRAGMAS), create=True)
    schema_mod.create(conn, db, dimension=384, generation="v12")
    rng = np.random.default_rng(size)
    words = random.Random(size)
    now = time.time()
    with conn:
        conn.execute(
            "INSERT INTO metadata (key, value) VALUES ('memhub_embedder', ?)", (embedder_name,)
        )
        for start in range(0, size, 5000):
            n = min(5000, size - start)
            vecs = rng.standard_normal((n, 384)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            for j in range(n):
                i = start + j
                text = make_text(words, i)
                conn.execute(
                    "INSERT INTO memories (content_hash, content, tags, memory_type, metadata, "
                    "created_at, updated_at, created_at_iso, updated_at_iso, store) "
                    "VALUES (?, ?, ?, 'note', '{}', ?, ?, 'x', 'x', 'default')",
                    (content_hash(text), text, f"t{i % 20}", now - i, now - i),
                )
                conn.execute(
                    "INSERT INTO memory_embeddings (rowid, content_embedding, store) "
                    "VALUES (?, ?, 'default')",
                    (conn.last_insert_rowid(), vecs[j].astype("<f4").tobytes()),
                )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def bench_search(size: int, queries: int, embedder: str, index: str) -> dict[str, Any]:
    name = "hash:v1" if embedder == "hash" else "sentence-transformers:all-MiniLM-L6-v2"
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / f"search{size}.db"
        fill(db, size, name)
        os.environ["MEMHUB_VECTOR_INDEX"] = index
        try:
            proc, info = start_daemon(db, embedder)
        finally:
            os.environ.pop("MEMHUB_VECTOR_INDEX", None)
        try:
            rng = random.Random(7)

            async def run() -> list[float]:
                lat = []
                async with open_daemon_client(info.url, info.token) as c:
                    for i in range(queries + 10):
                        q = "how do we " + " ".join(rng.sample(WORDS, 4)) + f" ({i})"
                        t = time.perf_counter()
                        reply = await c.call(m.Search(id=0, query=q, limit=10))
                        if i >= 10:  # warm-up excluded
                            lat.append(time.perf_counter() - t)
                        assert isinstance(reply, m.SearchResult)
                        assert len(reply.hits) == 10
                return lat

            latencies = trio.run(run)
            rss_mb = psutil.Process(proc.pid).memory_info().rss / 2**20
        finally:
            stop(proc)
    return {
        "size": size,
        "index": index,
        "embedder": embedder,
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(float(np.percentile(latencies, 99)) * 1000, 2),
        "daemon_rss_mb": round(rss_mb),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=("stores", "search", "all"))
    parser.add_argument("--clients", default="1,8")
    parser.add_argument("--per-client", type=int, default=60)
    parser.add_argument("--prefill", default="0", help="memories already stored, e.g. 1000,10000")
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--index", default="ram,vec0")
    parser.add_argument("--embedder", default="model", choices=("model", "hash"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    out: dict[str, Any] = {"machine": {"cores": os.cpu_count()}, "stores": [], "search": []}
    if args.what in ("stores", "all"):
        for prefill in (int(x) for x in args.prefill.split(",")):
            for k in (int(x) for x in args.clients.split(",")):
                row = bench_stores(k, args.per_client, args.embedder, prefill)
                row["prefill"] = prefill
                out["stores"].append(row)
                print(json.dumps(row), flush=True)
    if args.what in ("search", "all"):
        for size in (int(x) for x in args.sizes.split(",")):
            for index in args.index.split(","):
                row = bench_search(size, args.queries, args.embedder, index)
                out["search"].append(row)
                print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
