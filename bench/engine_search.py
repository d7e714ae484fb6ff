"""The vector search alone, in process: the `ram` index against sqlite-vec's scan.

Usage: python bench/engine_search.py --sizes 1000,10000,100000 --queries 100

Same databases as ``daemon_figures.py search`` (random unit vectors), random query vectors, no
embedding, no transport: one read transaction per query, filters none, limit 10.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from daemon_figures import fill

from memhub.storage import queries
from memhub.storage import schema as schema_mod
from memhub.storage.vectors import VectorIndex


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        db = Path(tempfile.mkdtemp()) / "engine.db"
        fill(db, size, "hash:v1")
        conn = schema_mod.connect(db, readonly=True, pragmas={"busy_timeout": "5000"})
        schema = schema_mod.inspect(conn, db)
        assert schema is not None
        index = VectorIndex(schema.dimension)
        index.load_all(conn, schema)
        rng = np.random.default_rng(size)
        row: dict[str, object] = {"size": size}
        for label, used in (("ram", index), ("vec0", None)):
            times = []
            for _ in range(args.queries):
                q = rng.standard_normal(384).astype(np.float32)
                started = time.perf_counter()
                conn.execute("BEGIN")
                hits = queries.semantic_search(conn, schema, used, q, queries.Filters(), 10)
                conn.execute("COMMIT")
                times.append(time.perf_counter() - started)
                assert len(hits) == 10
            row[f"{label}_p50_ms"] = round(statistics.median(times) * 1000, 3)
        conn.close()
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
