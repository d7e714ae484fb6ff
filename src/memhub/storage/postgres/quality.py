"""The PostgreSQL engine's quality statistics: the SQLite engine's rules, in one scan each.

See :mod:`memhub.storage.quality`. The team layout stores metadata as text that only memhub
writes (JSON objects), so it is read as ``jsonb``.
"""

from __future__ import annotations

from typing import Any, Final

import psycopg

from memhub.storage.quality import (
    BUCKET_S,
    DEFAULT_PROVIDER,
    DEFAULT_SCORE,
    HIGH,
    MEDIUM,
    PREVIEW,
    RANKED,
    QualitySummary,
    RankedMemory,
    ScoreBucket,
)

Cursor = psycopg.Cursor[Any]

_JSON: Final = (
    "(CASE WHEN m.metadata IS NULL OR m.metadata = '' THEN NULL ELSE m.metadata::jsonb END)"
)
_ROWS: Final = (
    "SELECT q.h, q.c, q.t, "
    f"CASE WHEN jsonb_typeof(q.j -> 'quality_score') = 'number' "
    f"THEN (q.j ->> 'quality_score')::float8 ELSE {DEFAULT_SCORE} END AS s, "
    f"CASE WHEN jsonb_typeof(q.j -> 'quality_provider') = 'string' "
    f"THEN q.j ->> 'quality_provider' ELSE '{DEFAULT_PROVIDER}' END AS p "
    f"FROM (SELECT m.content_hash AS h, m.created_at AS c, substr(m.content, 1, {PREVIEW}) AS t, "
    f"{_JSON} AS j FROM memories m WHERE m.deleted_at IS NULL AND m.store = %(store)s "
    # OFFSET 0 keeps the planner from flattening the subquery (each mention of s would parse
    # the metadata again)
    "OFFSET 0) q OFFSET 0"
)
_INSIDE: Final = "r.s >= %(lo)s AND r.s <= %(hi)s"


def summary(cur: Cursor, store: str, low: float, high: float) -> QualitySummary:
    params = {"store": store, "lo": low, "hi": high}
    cur.execute(
        "SELECT COUNT(*) FROM memories m WHERE m.deleted_at IS NULL AND m.store = %s", (store,)
    )
    counted = cur.fetchone()
    store_total = int(counted[0]) if counted else 0
    # one scan: the tiers and sums per provider (a handful of groups), newest provider first
    cur.execute(
        f"SELECT r.p, COUNT(*), COUNT(*) FILTER (WHERE r.s >= {HIGH}), "
        f"COUNT(*) FILTER (WHERE r.s >= {MEDIUM} AND r.s < {HIGH}), "
        f"COUNT(*) FILTER (WHERE r.s < {MEDIUM}), COALESCE(SUM(r.s), 0) "
        f"FROM ({_ROWS}) r WHERE {_INSIDE} GROUP BY r.p "
        'ORDER BY MAX(r.c) DESC, r.p COLLATE "C"',
        params,
    )
    groups = cur.fetchall()

    def ranked(order: str) -> list[RankedMemory]:
        cur.execute(
            f"SELECT r.h, r.t, r.s FROM ({_ROWS}) r WHERE {_INSIDE} ORDER BY {order} "
            f"LIMIT {RANKED}",
            params,
        )
        return [
            RankedMemory(content_hash=h, content=t or "", score=float(s))
            for h, t, s in cur.fetchall()
        ]

    top = ranked('r.s DESC, r.c DESC, r.h COLLATE "C" DESC')
    bottom = ranked('r.s ASC, r.c ASC, r.h COLLATE "C" ASC')
    return QualitySummary(
        store_total=store_total,
        total=sum(int(g[1]) for g in groups),
        high=sum(int(g[2]) for g in groups),
        medium=sum(int(g[3]) for g in groups),
        low=sum(int(g[4]) for g in groups),
        score_sum=sum(float(g[5]) for g in groups),
        providers=[(str(g[0]), int(g[1])) for g in groups],
        top=top,
        bottom=bottom[::-1],
    )


def stale_count(cur: Cursor, store: str, before: float) -> int:
    cur.execute(
        "SELECT COUNT(*) FROM memories m WHERE m.deleted_at IS NULL AND m.store = %s "
        "AND COALESCE(m.last_accessed::float8, m.created_at) < %s",
        (store, before),
    )
    row = cur.fetchone()
    return int(row[0]) if row else 0


def score_buckets(cur: Cursor, start: float, end: float) -> list[ScoreBucket]:
    """The SQLite engine's :func:`~memhub.storage.sqlite.quality.score_buckets`."""
    cur.execute(
        f"SELECT floor(r.c / {BUCKET_S})::bigint AS b, COUNT(*), COALESCE(SUM(r.s), 0), "
        "MAX(r.s), MIN(r.s) FROM (SELECT q.c, "
        "CASE WHEN jsonb_typeof(q.j -> 'quality_score') = 'number' "
        f"THEN (q.j ->> 'quality_score')::float8 ELSE {DEFAULT_SCORE} END AS s "
        f"FROM (SELECT m.created_at AS c, {_JSON} AS j FROM memories m "
        "WHERE m.deleted_at IS NULL AND m.created_at BETWEEN %s AND %s OFFSET 0) q) r "
        "GROUP BY b ORDER BY b",
        (start, end),
    )
    return [
        ScoreBucket(
            start=int(b) * BUCKET_S,
            count=int(n),
            score_sum=float(total),
            best=float(best),
            worst=float(worst),
        )
        for b, n, total, best, worst in cur.fetchall()
    ]
