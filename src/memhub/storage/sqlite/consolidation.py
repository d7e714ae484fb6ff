"""The SQLite reads of 12.4's consolidation: a horizon's batch and graph neighbour counts.

The batch is 12.4's selection done by the database: live memories of every store (superseded
ones too) created in a window, the least recently consolidated first (``metadata
.last_consolidated_at``, else ``created_at``), at most ``limit``, with their vectors and
``last_accessed``. It reads the window's rows once (no index orders by a metadata key) and
returns ``limit`` of them, however large the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import apsw

from memhub.storage.model import Candidate
from memhub.storage.sqlite import filters as sql_filters
from memhub.storage.sqlite.queries import record_columns, reply_record
from memhub.storage.sqlite.schema import Schema
from memhub.storage.sqlite.values import as_int, epoch, text
from memhub.storage.sqlite.vectors import vectors_of

_CHUNK: Final = 400
ORDER_KEY: Final = (
    "COALESCE(CASE WHEN json_valid(m.metadata) AND json_type(m.metadata, "
    "'$.last_consolidated_at') IN ('integer', 'real') "
    "THEN json_extract(m.metadata, '$.last_consolidated_at') END, m.created_at)"
)


def batch(
    conn: apsw.Connection, schema: Schema, after: float, before: float, limit: int
) -> list[Candidate]:
    accessed = "m.last_accessed" if "last_accessed" in schema.memory_columns else "NULL"
    rows = conn.execute(
        f"SELECT m.id, {accessed}, {record_columns(schema)} FROM memories m "
        f"WHERE {sql_filters.visible(schema, None)} AND m.created_at BETWEEN ? AND ? "
        f"ORDER BY {ORDER_KEY}, m.id LIMIT ?",
        (after, before, limit),
    ).fetchall()
    vectors = vectors_of(conn, [as_int(r[0]) for r in rows], schema.dimension)
    return [
        Candidate(
            record=reply_record(r[2:]), vector=vectors.get(as_int(r[0])), last_accessed=epoch(r[1])
        )
        for r in rows
    ]


def neighbour_counts(
    conn: apsw.Connection, schema: Schema, hashes: Sequence[str]
) -> dict[str, int]:
    """12.4's ``get_memory_connections`` for ``hashes``: distinct live neighbours, ``has_entity``
    rows left out."""
    if not schema.has_graph or not hashes:
        return {}
    found: dict[str, int] = {}
    not_entity = "(g.relationship_type IS NULL OR g.relationship_type != 'has_entity')"
    for start in range(0, len(hashes), _CHUNK):
        part = list(hashes[start : start + _CHUNK])
        marks = ",".join("?" * len(part))
        rows = conn.execute(
            f"WITH e AS (SELECT g.source_hash AS node, g.target_hash AS nb FROM memory_graph g "
            f"WHERE g.source_hash IN ({marks}) AND {not_entity} "
            f"UNION SELECT g.target_hash, g.source_hash FROM memory_graph g "
            f"WHERE g.target_hash IN ({marks}) AND {not_entity}) "
            "SELECT e.node, COUNT(DISTINCT e.nb) FROM e "
            "JOIN memories a ON a.content_hash = e.node AND a.deleted_at IS NULL "
            "JOIN memories b ON b.content_hash = e.nb AND b.deleted_at IS NULL "
            "WHERE e.node != e.nb GROUP BY e.node",
            [*part, *part],
        ).fetchall()
        found.update((text(node), as_int(n)) for node, n in rows)
    return found
