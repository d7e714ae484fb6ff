"""memory_search through the bridge vs the same search in-process on the engine; bridge RSS.

Usage::

    python bench/bridge_overhead.py --size 10000 --queries 200 [--backend onnx] [--json out.json]

One run, interleaved: query i goes once through MCP stdio -> ``memhub bridge`` -> websocket ->
daemon, and once (a different process, same model, same database) straight to the engine:
embed, then the vector-index search and the join, exactly what the daemon's reader does. Both
paths see a fresh query text each time, so both pay for the embedding. The overhead is the
difference of the medians (goal: <= 1 ms or <= 10%).
"""

from __future__ import annotations

import os

# The daemon runs with these (memhub serve sets them); give the in-process side the same.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import trio
from mcp import Client, StdioServerParameters

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from daemon_figures import WORDS, fill  # noqa: E402
from inprocess import readonly_snapshot  # noqa: E402

from memhub.config import runtime_paths  # noqa: E402
from memhub.discovery import read_runtime_file  # noqa: E402
from memhub.embedding import create_embedder  # noqa: E402
from memhub.storage.model import Filters  # noqa: E402


async def run(size: int, n_queries: int, backend: str) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp())
    db = tmp / "bridge.db"
    fill(db, size, "sentence-transformers:all-MiniLM-L6-v2")
    embedder = create_embedder(
        "model",
        "all-MiniLM-L6-v2",
        os.cpu_count() or 2,
        backend="onnx" if backend == "onnx" else "sentence-transformers",
    )
    snapshot = readonly_snapshot(db)
    conn = snapshot.conn

    def in_process(query: str) -> float:
        started = time.perf_counter()
        vector = embedder.encode([query])[0]
        conn.execute("BEGIN")
        hits = snapshot.semantic_search(vector, Filters(), 10)
        conn.execute("COMMIT")
        assert len(hits) == 10
        return time.perf_counter() - started

    env = dict(
        os.environ,
        MEMHUB_EMBEDDER="model",
        MEMHUB_EMBEDDING_BACKEND=backend,
        MCP_MEMORY_SQLITE_PATH=str(db),
        HF_HUB_OFFLINE="1",
    )
    params = StdioServerParameters(command=sys.executable, args=["-m", "memhub", "bridge"], env=env)
    rng = random.Random(11)
    bridge_lat: list[float] = []
    local_lat: list[float] = []
    async with Client(params, mode="legacy") as client:
        for i in range(n_queries + 10):
            words = " ".join(rng.sample(WORDS, 4))
            q_bridge, q_local = f"how do we {words} ({i}a)", f"how do we {words} ({i}b)"
            started = time.perf_counter()
            result = await client.call_tool("memory_search", {"query": q_bridge, "limit": 10})
            elapsed = time.perf_counter() - started
            assert not result.is_error
            local = in_process(q_local)
            if i >= 10:  # the first calls start the daemon and warm caches
                bridge_lat.append(elapsed)
                local_lat.append(local)
        me = psutil.Process()
        bridge = [p for p in me.children(recursive=True) if "bridge" in " ".join(p.cmdline())]
        bridge_rss = bridge[0].memory_info().rss / 2**20 if bridge else float("nan")
    info = read_runtime_file(runtime_paths(db.resolve()).runtime)
    daemon_rss = psutil.Process(info.pid).memory_info().rss / 2**20 if info else float("nan")
    if info:
        os.kill(info.pid, 15)
    conn.close()
    b, l_ = statistics.median(bridge_lat), statistics.median(local_lat)
    return {
        "backend": backend,
        "size": size,
        "queries": n_queries,
        "bridge_p50_ms": round(b * 1000, 2),
        "bridge_p99_ms": round(float(np.percentile(bridge_lat, 99)) * 1000, 2),
        "in_process_p50_ms": round(l_ * 1000, 2),
        "in_process_p99_ms": round(float(np.percentile(local_lat, 99)) * 1000, 2),
        "overhead_ms": round((b - l_) * 1000, 2),
        "overhead_ratio": round(b / l_, 3),
        "bridge_rss_mb": round(bridge_rss),
        "daemon_rss_mb": round(daemon_rss),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=10000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--backend", default="onnx", choices=("onnx", "sentence-transformers"))
    args = parser.parse_args()
    result = trio.run(run, args.size, args.queries, args.backend)
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
