"""The PostgreSQL engine's quality statistics: the SQLite engine's rules, in one scan each.

See :mod:`memhub.storage.quality`. The team layout stores metadata as text that only memhub
writes (JSON objects), so it is read as ``jsonb``.
"""

from __future__ import annotations

from typing import Any, Final

import psycopg

from memhub.storage.quality import (
    DEFAULT_PROVIDER,
    DEFAULT_SCORE,
    HIGH,
    MEDIUM,
    PREVIEW,
    RANKED,
    QualitySummary,
    RankedMemory,
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
    f"{_JSON} AS j FROM memories m WHERE m.deleted_at IS NULL AND m.store = %(store)s) q"
)
_INSIDE: Final = "r.s >= %(lo)s AND r.s <= %(hi)s"


def summary(cur: Cursor, store: str, low: float, high: float) -> QualitySummary:
    params = {"store": store, "lo": low, "hi": high}
    cur.execute(
        f"SELECT COUNT(*), COUNT(*) FILTER (WHERE {_INSIDE}), "
        f"COUNT(*) FILTER (WHERE {_INSIDE} AND r.s >= {HIGH}), "
        f"COUNT(*) FILTER (WHERE {_INSIDE} AND r.s >= {MEDIUM} AND r.s < {HIGH}), "
        f"COUNT(*) FILTER (WHERE {_INSIDE} AND r.s < {MEDIUM}), "
        f"COALESCE(SUM(r.s) FILTER (WHERE {_INSIDE}), 0) FROM ({_ROWS}) r",
        params,
    )
    counted = cur.fetchone()
    assert counted is not None
    store_total, total, n_high, n_medium, n_low, score_sum = counted
    cur.execute(
        f"SELECT r.p, COUNT(*) FROM ({_ROWS}) r WHERE {_INSIDE} GROUP BY r.p "
        'ORDER BY MAX(r.c) DESC, r.p COLLATE "C"',
        params,
    )
    providers = [(str(p), int(n)) for p, n in cur.fetchall()]

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
        store_total=int(store_total),
        total=int(total),
        high=int(n_high),
        medium=int(n_medium),
        low=int(n_low),
        score_sum=float(score_sum),
        providers=providers,
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
