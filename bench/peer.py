"""memhub against mcp-memory-service's own multi-client approach, side by side in one run.

Usage::

    python bench/peer.py --procs 1,2,4 --per-proc 60 [--backends onnx,sentence-transformers]
        [--json out.json]

For each N, interleaved: (a) N processes each open the same fresh database file with
mcp-memory-service 12.2.0's ``SqliteVecMemoryStorage`` (installed from PyPI into a throwaway
virtualenv by ``tests/compat/mms_env.py``, model pointed at the same offline weights) and store
``--per-proc`` distinct memories one at a time; (b) one memhub daemon and N client processes do
the same through the protocol, once per memhub embedding backend (``--backends``). Reported:
total stores/s, store p50/p99 and the total RSS of every process holding a model.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from daemon_figures import bench_stores, make_text  # noqa: E402
from tests.compat.mms_env import VERSIONS, ensure_mms_venv, mms_env  # noqa: E402

PEER = r"""
import asyncio, json, sys, time
import pysqlite3.dbapi2
sys.modules["sqlite3"] = pysqlite3.dbapi2
from mcp_memory_service.models.memory import Memory
from mcp_memory_service.storage.sqlite_vec import SqliteVecMemoryStorage
from mcp_memory_service.utils.hashing import generate_content_hash

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

async def main():
    job = json.loads(sys.stdin.readline())
    storage = SqliteVecMemoryStorage(job["db"])
    await storage.initialize()
    print("ready", flush=True)
    sys.stdin.readline()
    lat, failed = [], 0
    start = time.perf_counter()
    for text in job["texts"]:
        t = time.perf_counter()
        ok, _ = await storage.store(Memory(content=text, content_hash=generate_content_hash(text)))
        lat.append(time.perf_counter() - t)
        failed += 0 if ok else 1
    end = time.perf_counter()
    print(json.dumps({"lat": lat, "failed": failed, "start": start, "end": end, "rss": rss_mb()}))

asyncio.run(main())
"""


def bench_peer(procs: int, per_proc: int, seed: int) -> dict[str, Any]:
    python = ensure_mms_venv(VERSIONS["v12"])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = work / "peer.db"
        env = dict(
            mms_env(python, work), MCP_MEMORY_SQLITE_PATH=str(db), MCP_SEMANTIC_DEDUP_ENABLED="true"
        )
        rng = random.Random(seed)
        # one process creates the schema first, as the baseline did
        init = subprocess.run(
            [str(python), "-c", PEER],
            input=json.dumps({"db": str(db), "texts": []}) + "\n\n",
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert init.returncode == 0, init.stderr[-2000:]
        workers = []
        for k in range(procs):
            texts = [make_text(rng, 1_000_000 * (k + 1) + i) for i in range(per_proc)]
            proc = subprocess.Popen(
                [str(python), "-c", PEER],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            assert proc.stdin is not None
            proc.stdin.write(json.dumps({"db": str(db), "texts": texts}) + "\n")
            proc.stdin.flush()
            workers.append(proc)
        for proc in workers:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        for proc in workers:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = [json.loads(p.communicate(timeout=1800)[0]) for p in workers]
    latencies = [x for r in results for x in r["lat"]]
    span = max(r["end"] for r in results) - min(r["start"] for r in results)
    stored = len(latencies) - sum(r["failed"] for r in results)
    return {
        "system": "mcp-memory-service 12.2.0, one process per client",
        "clients": procs,
        "stores_per_s": round(stored / span, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(sorted(latencies)[int(0.99 * (len(latencies) - 1))] * 1000, 1),
        "rejected_or_failed": sum(r["failed"] for r in results),
        "total_rss_mb": round(sum(r["rss"] for r in results)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--procs", default="1,2,4")
    parser.add_argument("--per-proc", type=int, default=60)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--backends", default="onnx,sentence-transformers")
    parser.add_argument(
        "--ceiling", action="store_true", help="also measure each backend's batch-32 ceiling"
    )
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    rows = []
    for n in (int(x) for x in args.procs.split(",")):
        peer = bench_peer(n, args.per_proc, seed=n)
        print(json.dumps(peer), flush=True)
        rows.append(peer)
        for backend in backends:
            # The daemon inherits this process's environment (bench_stores spawns it).
            os.environ["MEMHUB_EMBEDDING_BACKEND"] = backend
            ours = bench_stores(n, args.per_proc, "model")
            ours_row: dict[str, Any] = {
                "system": f"memhub, one daemon ({backend})",
                "clients": n,
                "stores_per_s": ours["stores_per_s"],
                "p50_ms": ours["p50_ms"],
                "p99_ms": ours["p99_ms"],
                "rejected_or_failed": ours["errors"],
                "total_rss_mb": ours["daemon_rss_mb"],
            }
            if args.ceiling:
                # The model's batch-32 ceiling on the same texts, right after the stores.
                ceiling = json.loads(
                    subprocess.run(
                        [
                            sys.executable,
                            str(ROOT / "bench" / "embed_ceiling.py"),
                            "--backend",
                            backend,
                        ],
                        capture_output=True,
                        text=True,
                        check=True,
                        timeout=900,
                    )
                    .stdout.strip()
                    .splitlines()[-1]
                )
                ours_row["batch32_ceiling_texts_per_s"] = ceiling["batch32_texts_per_s"]
                ours_row["stores_per_s_over_ceiling"] = round(
                    ours["stores_per_s"] / ceiling["batch32_texts_per_s"], 2
                )
            print(json.dumps(ours_row), flush=True)
            rows.append(ours_row)
        time.sleep(1)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
