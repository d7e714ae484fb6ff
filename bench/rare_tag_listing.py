"""A tag listing: the time-index walk (and count) against the facet index's few rows.

Usage::

    python bench/rare_tag_listing.py --db /tmp/million/m1m.db [--repeat 7]

On a store built by ``bench/million.py build``, times ``queries.recent`` (a search with tags and
no query: newest first, limit 10) and ``queries.list_page`` (``memory_list``'s first page of 10
and its total) in one read transaction each, for a tag no memory carries, the rare tag (every
1,000th row) and the common tag (~30%), both ways: ``scan`` (the SQL alone, as before) and
``facets`` (the rows the facet index names, :mod:`memhub.storage.narrowing`).
No transport, no embedding: the read as a reader actor runs it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import million_build as mb  # noqa: E402
from inprocess import readonly_snapshot  # noqa: E402

from memhub.storage.model import Filters  # noqa: E402
from memhub.storage.narrowing import few_rows  # noqa: E402
from memhub.storage.sqlite import queries  # noqa: E402
from memhub.storage.sqlite.vectors import facet_rows  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    snap = readonly_snapshot(args.db)
    conn, index = snap.conn, snap.index
    assert index is not None
    conn.execute("BEGIN")
    index.facets.load(facet_rows(conn, queries.store_column(snap.schema)))
    index.mark_loaded(index.position)
    conn.execute("COMMIT")
    for read in ("recent", "list"):
        for tag in ("no-such-tag", mb.RARE_TAG, mb.COMMON_TAG):
            filters = Filters(tags=[tag])
            for label, narrow in (("scan", False), ("facets", True)):
                took, found, named = [], 0, "-"
                for _ in range(args.repeat):
                    conn.execute("BEGIN")
                    started = time.perf_counter()
                    among = None
                    if narrow:
                        among = few_rows(index, filters, past=index.position, changed=[])
                    if read == "recent":
                        found = len(queries.recent(conn, snap.schema, filters, 10, among))
                    else:
                        _, found = queries.list_page(
                            conn, snap.schema, filters, page=1, page_size=10, among=among
                        )
                    took.append((time.perf_counter() - started) * 1000)
                    conn.execute("COMMIT")
                    named = "-" if among is None else str(len(among.rows))
                p50 = statistics.median(took)
                print(
                    f"{read:6s} {tag:14s} {label:7s} p50 {p50:8.2f} ms  "
                    f"found {found:6d}  rows named {named}"
                )


if __name__ == "__main__":
    main()
