"""The PostgreSQL reads of 12.4's consolidation: a horizon's batch and graph neighbour counts
(the same answers as :mod:`memhub.storage.sqlite.consolidation`).

``metadata`` is JSON text that another program may have written badly, so the batch's order
key reads ``last_consolidated_at`` with a pattern that only ever yields a valid number (a cast
of unreadable JSON would fail the whole read).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import psycopg

from memhub.storage.mirror import unit_rows
from memhub.storage.model import Candidate
from memhub.storage.postgres.queries import COLUMNS, row_to_record

Cursor = psycopg.Cursor[Any]
_NUMBER: Final = r'"last_consolidated_at"\s*:\s*(-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?)'
ORDER_KEY: Final = f"COALESCE(substring(m.metadata from '{_NUMBER}')::float8, m.created_at)"


def batch(cur: Cursor, after: float, before: float, limit: int) -> list[Candidate]:
    cur.execute(
        f"SELECT m.last_accessed, m.embedding, {COLUMNS} FROM memories m "
        "WHERE m.deleted_at IS NULL AND m.created_at BETWEEN %s AND %s "
        f"ORDER BY {ORDER_KEY}, m.id LIMIT %s",
        (after, before, limit),
    )
    out = []
    for accessed, embedding, *columns in cur.fetchall():
        vector = None
        if embedding is not None:
            vector = unit_rows(np.asarray(embedding, dtype=np.float32))
        out.append(
            Candidate(
                record=row_to_record(columns),
                vector=vector,
                last_accessed=float(accessed) if accessed is not None else None,
            )
        )
    return out


def neighbour_counts(cur: Cursor, hashes: Sequence[str]) -> dict[str, int]:
    if not hashes:
        return {}
    not_entity = "(g.relationship_type IS NULL OR g.relationship_type <> 'has_entity')"
    cur.execute(
        "WITH e AS (SELECT g.source_hash AS node, g.target_hash AS nb FROM memory_graph g "
        f"WHERE g.source_hash = ANY(%s) AND {not_entity} "
        "UNION SELECT g.target_hash, g.source_hash FROM memory_graph g "
        f"WHERE g.target_hash = ANY(%s) AND {not_entity}) "
        "SELECT e.node, count(DISTINCT e.nb) FROM e "
        "JOIN memories a ON a.content_hash = e.node AND a.deleted_at IS NULL "
        "JOIN memories b ON b.content_hash = e.nb AND b.deleted_at IS NULL "
        "WHERE e.node <> e.nb GROUP BY e.node",
        (list(hashes), list(hashes)),
    )
    return {str(node): int(n) for node, n in cur.fetchall()}
