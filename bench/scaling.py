"""memhub with 1, 2, 4, 8, 16, 32 clients: stores/s and search p50/p99 from `memhub stress`.

Usage: python bench/scaling.py --clients 1,2,4,8,16,32 --duration 20 [--embedder model]

Each K is one `memhub stress` run (fresh daemon and database, seeded mixed workload, closed
loop) that must also pass its integrity checks; the table takes its store throughput and search
latency.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", default="1,2,4,8,16,32")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--embedder", default="model")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    for k in (int(x) for x in args.clients.split(",")):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "memhub",
                "stress",
                "--clients",
                str(k),
                "--duration",
                str(args.duration),
                "--embedder",
                args.embedder,
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=3600,
        )
        run = json.loads(done.stdout)["runs"][0]
        store, search = run["per_op"]["store"], run["per_op"]["search"]
        row = {
            "clients": k,
            "passed": done.returncode == 0,
            "ops_per_s": run["ops_per_s"],
            "stores_per_s": store["per_s"],
            "store_p50_ms": store["p50_ms"],
            "store_p99_ms": store["p99_ms"],
            "search_p50_ms": search["p50_ms"],
            "search_p99_ms": search["p99_ms"],
            "errors": run["errors"],
            "writer_mean_batch": round(run["writer"]["mean_batch_size"], 2),
            "embedder_mean_batch": round(run["embedder"]["mean_batch_size"], 2),
            "daemon_rss_mb": run["peak_rss_mb"]["daemon"],
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
