"""The vector search alone, in process: one-pass float32 against the two-pass int8 + re-rank.

Usage::

    python bench/engine_search.py --sizes 1000,10000,100000 --queries 200 [--vec0] [--json out.json]

Two parts, each interleaving the paths query by query so host noise hits them alike:

- ``index``: ``VectorIndex.nearest(q, 10)`` on the benchmark's vector sets (``random`` and the
  sentence-embedding-shaped ``clustered`` set of ``tests/storage/vector_sets.py``), old path
  (``two_pass=False``: one float32 matrix-vector product over every row) against the new one.
  Reports p50/p99 per path, recall@10 of the new path against the old, the median size of the
  first pass's candidate set, and the bytes each index holds.
- ``engine``: ``queries.semantic_search`` on a SQLite file of random vectors (one read
  transaction per query, catch-up, join to ``memories``), as the daemon's reader runs it;
  ``--vec0`` adds sqlite-vec's brute-force scan (slow: ~70 ms a query at 100k). Then the new
  path with a tag filter (5% of rows), a time filter (50%) and both (0.25%), next to the time
  of the SQL that lists the matching ids alone.

No embedding, no transport. BLAS is capped to one thread as in the daemon.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import functools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from daemon_figures import fill  # noqa: E402
from inprocess import readonly_snapshot  # noqa: E402
from tests.storage.vector_sets import queries_for, vector_set  # noqa: E402

from memhub.storage import int8codes  # noqa: E402
from memhub.storage.mirror import VectorIndex  # noqa: E402
from memhub.storage.model import Filters  # noqa: E402
from memhub.storage.sqlite import filters as sql_filters  # noqa: E402
from memhub.storage.sqlite.reading import SqliteSnapshot  # noqa: E402
from memhub.storage.sqlite.values import as_float  # noqa: E402

K = 10


def _ms(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)


def _summary(label: str, samples: list[float]) -> dict[str, float]:
    return {
        f"{label}_p50_ms": round(statistics.median(samples) * 1000, 3),
        f"{label}_p99_ms": _ms(samples, 0.99),
    }


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def bench_index(name: str, size: int, n_queries: int) -> dict[str, Any]:
    data = vector_set(name, size)
    ids = list(range(1, size + 1))
    created = [0.0] * size
    old = VectorIndex(data.shape[1], two_pass=False)
    new = VectorIndex(data.shape[1], two_pass=True)
    old.add_many(ids, data, created)
    new.add_many(ids, data, created)
    qs = queries_for(name, data, n_queries + 5)
    old_t: list[float] = []
    new_t: list[float] = []
    hits = 0
    for i, q in enumerate(qs):
        t_old, got_old = _timed(functools.partial(old.nearest, q, K))
        t_new, got_new = _timed(functools.partial(new.nearest, q, K))
        if i >= 5:  # warm-up
            old_t.append(t_old)
            new_t.append(t_new)
            hits += len({r for r, _ in got_old} & {r for r, _ in got_new})
    codes, steps, slack = int8codes.encode(data)
    shortlist = [int(int8codes.candidate_rows(q, codes, steps, slack, K).shape[0]) for q in qs[:20]]
    return {
        "part": "index",
        "set": name,
        "size": size,
        **_summary("old", old_t),
        **_summary("new", new_t),
        "recall_at_10": hits / (K * n_queries),
        "candidates_median": statistics.median(shortlist),
        "old_mb": round(old.nbytes() / 1e6, 1),
        "new_mb": round(new.nbytes() / 1e6, 1),
    }


def bench_engine(size: int, n_queries: int, with_vec0: bool) -> dict[str, Any]:
    db = Path(tempfile.mkdtemp()) / "engine.db"
    fill(db, size, "hash:v1")
    paths: dict[str, SqliteSnapshot] = {
        "old": readonly_snapshot(db, two_pass=False),
        "new": readonly_snapshot(db, two_pass=True),
    }
    if with_vec0:
        paths["vec0"] = readonly_snapshot(db, mirror=False)
    rng = np.random.default_rng(size)
    times: dict[str, list[float]] = {label: [] for label in paths}
    for i in range(n_queries + 5):
        q: npt.NDArray[np.float32] = rng.standard_normal(384).astype(np.float32)
        for label, snapshot in paths.items():

            def search(snapshot: SqliteSnapshot = snapshot, q: Any = q) -> list[Any]:
                snapshot.conn.execute("BEGIN")
                try:
                    return snapshot.semantic_search(q, Filters(), K)
                finally:
                    snapshot.conn.execute("COMMIT")

            elapsed, hits = _timed(search)
            assert len(hits) == K
            if i >= 5:
                times[label].append(elapsed)
    row: dict[str, Any] = {"part": "engine", "set": "random", "size": size}
    for label, samples in times.items():
        row.update(_summary(label, samples))
    row.update(_filtered(paths["new"], size, n_queries))
    for snapshot in paths.values():
        snapshot.conn.close()
    return row


def _fetch_all(conn: Any, sql: str, params: list[Any]) -> list[Any]:
    rows: list[Any] = conn.execute(sql, params).fetchall()
    return rows


def _filtered(snapshot: SqliteSnapshot, size: int, n_queries: int) -> dict[str, float]:
    """The new path with filters, and the SQL that lists the matching ids on its own.

    ``fill`` tags row i ``t{i % 20}`` (tag t3: 5% of rows) and dates it ``now - i`` seconds.
    """
    conn = snapshot.conn
    newest = as_float(conn.execute("SELECT MAX(created_at) FROM memories").fetchall()[0][0])
    cases = {
        "tag5pct": Filters(tags=["t3"]),
        "after50pct": Filters(after=float(newest) - size / 2),
        # 0.25%: too rare for the nearest rows, so the search also lists every matching id
        "rare": Filters(tags=["t3"], after=float(newest) - size / 20),
    }
    rng = np.random.default_rng(size + 1)
    out: dict[str, float] = {}
    for label, filters in cases.items():
        where, params = sql_filters.where(filters, snapshot.schema, for_search=True)
        search_t: list[float] = []
        sql_t: list[float] = []
        for _ in range(max(10, n_queries // 4)):
            q = rng.standard_normal(384).astype(np.float32)
            conn.execute("BEGIN")
            try:
                t_search, hits = _timed(functools.partial(snapshot.semantic_search, q, filters, K))
                list_ids = f"SELECT m.id FROM memories m WHERE {where}"
                t_sql, _ = _timed(functools.partial(_fetch_all, conn, list_ids, params))
            finally:
                conn.execute("COMMIT")
            assert len(hits) == K
            search_t.append(t_search)
            sql_t.append(t_sql)
        out[f"new_{label}_p50_ms"] = round(statistics.median(search_t) * 1000, 3)
        out[f"sql_ids_{label}_p50_ms"] = round(statistics.median(sql_t) * 1000, 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--sets", default="random,clustered")
    parser.add_argument("--vec0", action="store_true", help="also time sqlite-vec's scan")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        for name in args.sets.split(","):
            rows.append(bench_index(name, size, args.queries))
            print(json.dumps(rows[-1]), flush=True)
        rows.append(bench_engine(size, args.queries, args.vec0))
        print(json.dumps(rows[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
