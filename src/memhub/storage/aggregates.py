"""Counts over the whole store for the web UI: tags, types, and memories per day.

Every count covers all active memories (never a sample, unlike dashboards that count the first
thousand rows). Tags are stored as one CSV string per row, so SQL groups equal strings first and
Python splits each *distinct* string once, weighted by its count: memories repeat tag sets far
more often than they invent new ones, so the Python pass is over hundreds of strings, not the
whole table. ``bench/webui_figures.py`` measures it at 100k memories.
"""

from __future__ import annotations

from collections import Counter
from typing import Final

import apsw

from memhub.domain.tags import UNTAGGED, tags_from_db
from memhub.storage.schema import Schema
from memhub.storage.sqlvalues import as_int, as_str

DEFAULT_TYPE: Final = "note"


def tag_counts(
    conn: apsw.Connection, schema: Schema, limit: int
) -> tuple[list[tuple[str, int]], int]:
    """The ``limit`` most used tags (count, then name) and how many distinct tags exist.

    Tags compare case-insensitively, as tag filters do; the first spelling seen is shown.
    """
    counts: Counter[str] = Counter()
    spelling: dict[str, str] = {}
    sql = (
        f"SELECT m.tags, COUNT(*) FROM memories m WHERE {schema.active_filter('m')} GROUP BY m.tags"
    )
    for raw, count in conn.execute(sql):
        n = as_int(count)
        for tag in set(tags_from_db(raw if isinstance(raw, str) else None)):
            key = tag.lower()
            if key == UNTAGGED:
                continue
            spelling.setdefault(key, tag)
            counts[key] += n
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [(spelling[key], n) for key, n in ranked], len(counts)


def type_counts(conn: apsw.Connection, schema: Schema) -> list[tuple[str, int]]:
    """Active memories per type, most common first (a missing type counts as ``note``)."""
    sql = (
        f"SELECT COALESCE(NULLIF(m.memory_type, ''), '{DEFAULT_TYPE}') AS t, COUNT(*) AS n "
        f"FROM memories m WHERE {schema.active_filter('m')} GROUP BY t ORDER BY n DESC, t"
    )
    return [(as_str(t), as_int(n)) for t, n in conn.execute(sql)]


def day_counts(conn: apsw.Connection, schema: Schema, since: float) -> list[tuple[str, int]]:
    """Active memories created per local day since ``since`` (epoch), oldest day first.

    Uses the ``created_at`` index for the range; days without memories are left out.
    """
    sql = (
        "SELECT date(m.created_at, 'unixepoch', 'localtime') AS d, COUNT(*) "
        f"FROM memories m WHERE m.created_at >= ? AND {schema.active_filter('m')} "
        "GROUP BY d ORDER BY d"
    )
    return [(as_str(d), as_int(n)) for d, n in conn.execute(sql, (since,))]
