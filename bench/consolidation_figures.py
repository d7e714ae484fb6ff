"""What a ``memory_consolidate run`` costs, and what it costs a client writing meanwhile.

Usage::

    python bench/consolidation_figures.py --sizes 10000,100000 --json consolidation.json

For each size: a fresh v12 database filled in bulk (``daemon_figures.fill``: random unit
vectors, created over the last hours, so the whole store is inside the weekly and monthly
windows; 5 % of the rows are then made 400 days old, the forgetting phase's candidates), a real
``memhub serve`` (hash embedder unless ``--embedder model``), then:

* **baseline**: one client stores memories one at a time, ``--writes`` of them, no run;
* **weekly** and **monthly**: the same client stores one at a time for as long as a run of that
  horizon takes (12.4's defaults: a batch of 500, 1000 sampled pairs; monthly also forgets,
  with archive files), and the run's duration is taken as the daemon reports it.

Store latency is measured per call at the client (round trip, embedding included). Random
vectors are 12.4's worst case for associations: almost every sampled pair lands in its
similarity band, so each run stores about a thousand association memories and their edges.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from daemon_figures import fill, make_text, start_daemon, stop  # noqa: E402

from memhub.protocol import messages as m  # noqa: E402
from memhub.transport.client import open_daemon_client  # noqa: E402

OLD_SHARE = 0.05


def age_some(db: Path, size: int) -> None:
    """Make every 20th memory 400 days old (the forgetting phase reads at most 500 of them)."""
    conn = sqlite3.connect(db)
    old = time.time() - 400 * 86400
    with conn:
        conn.execute(
            "UPDATE memories SET created_at = ?, updated_at = ? WHERE id % ? = 0",
            (old, old, round(1 / OLD_SHARE)),
        )
    conn.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latency(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(values) * 1000, 2),
        "p99_ms": round(percentile(values, 0.99) * 1000, 2),
        "max_ms": round(max(values) * 1000, 2),
    }


async def store_loop(client: Any, rng: random.Random, out: list[float], done: trio.Event,
                     limit: int | None) -> None:  # fmt: skip
    i = 0
    while not done.is_set() and (limit is None or i < limit):
        text = make_text(rng, 10_000_000 + rng.randrange(10**9))
        started = time.perf_counter()
        await client.call(m.Store(id=0, content=text, tags=["bench-writer"]))
        out.append(time.perf_counter() - started)
        i += 1


async def measure(info: Any, horizons: list[str], writes: int, archive: Path) -> dict[str, Any]:
    url = f"ws://{info.host}:{info.port}"
    figures: dict[str, Any] = {}
    rng = random.Random(42)
    async with (
        open_daemon_client(url, info.token) as writer,
        open_daemon_client(url, info.token) as runner,
    ):
        base: list[float] = []
        await store_loop(writer, rng, base, trio.Event(), writes)
        figures["baseline"] = latency(base)
        for horizon in horizons:
            during: list[float] = []
            done = trio.Event()
            settings = m.ConsolidationSettings(archive_path=str(archive))
            async with trio.open_nursery() as nursery:
                nursery.start_soon(store_loop, writer, rng, during, done, None)
                started = time.perf_counter()
                reply = await runner.call(
                    m.ConsolidateRun(id=0, horizon=horizon, settings=settings)
                )
                wall = time.perf_counter() - started
                done.set()
            assert isinstance(reply, m.ToolData), reply
            report = reply.data
            figures[horizon] = {
                "run_s": round(wall, 2),
                "processed": report["memories_processed"],
                "associations": report["associations_discovered"],
                "clusters": report["clusters_created"],
                "archived": report["memories_archived"],
                "errors": len(report["errors"]),
                "writes_during": latency(during),
            }
    return figures


def bench(size: int, horizons: list[str], writes: int, embedder: str) -> dict[str, Any]:
    name = "hash:v1" if embedder == "hash" else "sentence-transformers:all-MiniLM-L6-v2"
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / f"consolidate{size}.db"
        started = time.perf_counter()
        fill(db, size, name)
        age_some(db, size)
        filled = time.perf_counter() - started
        os.environ["MCP_SEMANTIC_DEDUP_ENABLED"] = "false"  # random texts: no near duplicates
        proc, info = start_daemon(db, embedder)
        try:
            figures = trio.run(measure, info, horizons, writes, Path(tmp) / "archive")
        finally:
            stop(proc)
    return {"size": size, "embedder": embedder, "fill_s": round(filled, 1), **figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000")
    parser.add_argument("--horizons", default="weekly,monthly")
    parser.add_argument("--writes", type=int, default=300, help="baseline stores")
    parser.add_argument("--embedder", default="hash", choices=["hash", "model"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = [
        bench(int(size), args.horizons.split(","), args.writes, args.embedder)
        for size in args.sizes.split(",")
    ]
    for r in results:
        print(json.dumps(r))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
