"""``memory_graph`` ``path`` on a 100k-edge graph (SQLite engine, one reader snapshot).

    .venv/bin/python bench/graph_path.py [EDGES]

Builds a file with EDGES random ``causes`` edges among EDGES/5 nodes (average out-degree 5)
through the writer (one batch), then times shortest-path walks between random node pairs in
one snapshot each, as the daemon runs them.
"""

from __future__ import annotations

import functools
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from memhub.config import DEFAULT_PRAGMAS, Settings
from memhub.embedding import HashEmbedder
from memhub.graph import walks
from memhub.storage import open_storage
from memhub.storage.engine import WriteCall
from memhub.storage.relations import Edge


def main() -> None:
    n_edges = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    n_nodes = n_edges // 5
    rng = random.Random(7)
    nodes = [f"{i:064x}" for i in range(n_nodes)]
    pairs = {(rng.choice(nodes), rng.choice(nodes)) for _ in range(n_edges * 2)}
    edges = [
        Edge(source=s, target=t, similarity=0.5, connection_types=["x"], metadata={},
             relationship_type="causes", created_at=1.0)
        for s, t in list(pairs)[:n_edges] if s != t
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(db_path=Path(tmp) / "g.db", pragmas=dict(DEFAULT_PRAGMAS), machine="b")
        storage = open_storage(settings).complete(HashEmbedder())
        storage.load_mirror()
        t0 = time.perf_counter()
        storage.writer.run_batch([WriteCall(lambda txn: txn.put_edges(edges, replace=True))])
        print(f"wrote {len(edges)} edges in {time.perf_counter() - t0:.2f} s")
        reader = storage.open_reader()
        times: list[float] = []
        lengths: list[int] = []
        for _ in range(50):
            a, b = rng.choice(nodes), rng.choice(nodes)
            t0 = time.perf_counter()
            found = reader.run(functools.partial(walks.path, source=a, target=b, max_depth=8),
                               time.monotonic() + 30)  # fmt: skip
            times.append((time.perf_counter() - t0) * 1000)
            lengths.append(found["length"])
        times.sort()
        print(
            f"path (max_depth 8) over {len(edges)} edges: "
            f"median {statistics.median(times):.1f} ms, "
            f"p95 {times[int(len(times) * 0.95) - 1]:.1f} ms, max {times[-1]:.1f} ms; "
            f"found {sum(1 for x in lengths if x)}/50, mean length "
            f"{statistics.mean([x for x in lengths if x] or [0]):.1f} nodes"
        )
        reader.close()
        storage.close()


if __name__ == "__main__":
    main()
