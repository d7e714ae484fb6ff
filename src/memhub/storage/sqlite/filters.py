""":class:`~memhub.storage.model.Filters` compiled to SQLite SQL over the alias ``m``.

The rules are mcp-memory-service's, written once here for SQLite (the Python model of each rule
lives in :mod:`memhub.domain` and the tests hold the two against each other):

* visible: not soft-deleted, and in the requested store (12.x layout; a 10.x file has one
  unnamed store, ``default``);
* searchable: visible, not awaiting an embedding (12.x ``embedding_pending``), and not
  superseded unless asked;
* tags: ``(',' || REPLACE(tags, ' ', '') || ',') LIKE '%,<tag>,%'`` with the tag's wildcards
  escaped, which is ASCII-case-insensitive so legacy mixed-case rows match.

Every text that reaches a LIKE pattern is a literal: ``%`` and ``_`` are escaped, and a NUL
(where SQLite ends a pattern, so ``"\\0"`` would match every row) never gets here: the service
refuses it (:func:`memhub.domain.tags.filter_text_problem`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memhub.storage.model import DEFAULT_STORE

if TYPE_CHECKING:
    from memhub.storage.model import Filters
    from memhub.storage.sqlite.schema import Schema


def like_literal(text: str) -> str:
    """``text`` with LIKE's wildcards escaped (for ``ESCAPE '\\'``)."""
    # The backslash first, or the escapes added for % and _ would be escaped again.
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def visible(schema: Schema, store: str | None = DEFAULT_STORE, alias: str = "m") -> str:
    """Rows a read shows: active, and in ``store`` (None: every store)."""
    # The unary ``+`` keeps SQLite's planner off ``idx_deleted_at`` (mcp-memory-service's):
    # without ANALYZE statistics it takes ``deleted_at IS NULL`` for a selective equality,
    # walks nearly every row through that index and sorts them all for ``ORDER BY created_at``.
    # Live rows are almost all rows; the index only ever helps to find tombstones. At a million
    # memories this is 1.4 s against 0.1 ms for the first page of memory_list (docs/benchmarks.md).
    sql = f"+{alias}.deleted_at IS NULL"
    if schema.has_store and store is not None:
        # Store names are validated identifiers (domain.stores), but bind-free SQL must still
        # never carry a quote: double it as SQL does.
        quoted = store.replace("'", "''")
        sql += f" AND {alias}.store = '{quoted}'"
    elif not schema.has_store and store not in (None, DEFAULT_STORE):
        sql += " AND 0"  # a 10.x file holds only the default store
    return sql


def searchable(
    schema: Schema,
    store: str | None = DEFAULT_STORE,
    alias: str = "m",
    *,
    include_superseded: bool = False,
) -> str:
    """Visible rows that a search may return."""
    parts = [visible(schema, store, alias)]
    if schema.has_embedding_pending:
        # ``+``: as for deleted_at above (idx_memories_embedding_pending matches nearly every row).
        parts.append(f"(+{alias}.embedding_pending IS NULL OR +{alias}.embedding_pending = 0)")
    if schema.has_superseded and not include_superseded:
        parts.append(f"({alias}.superseded_by IS NULL OR {alias}.superseded_by = '')")
    return " AND ".join(parts)


def tags_sql(tags: list[str], match_all: bool, alias: str = "m") -> tuple[str, list[str]]:
    """Rows that carry any (or all) of ``tags``; ``("1", [])`` for none, ``("0", [])`` when
    every tag is blank (a filter was asked for, and nothing passes it)."""
    if not tags:
        return "1", []
    params = [f"%,{like_literal(t.replace(' ', ''))},%" for t in tags if t.strip()]
    if not params:
        return "0", []
    clause = f"(',' || REPLACE({alias}.tags, ' ', '') || ',') LIKE ? ESCAPE '\\'"
    joiner = " AND " if match_all else " OR "
    return "(" + joiner.join([clause] * len(params)) + ")", params


def where(filters: Filters, schema: Schema, *, for_search: bool) -> tuple[str, list[Any]]:
    """The SQL condition of ``filters`` over alias ``m`` and its parameters."""
    if for_search:
        parts = [searchable(schema, filters.store, include_superseded=filters.include_superseded)]
    else:
        parts = [visible(schema, filters.store)]
    params: list[Any] = []
    if filters.tags:
        sql, tag_params = tags_sql(filters.tags, filters.match_all)
        parts.append(sql)
        params.extend(tag_params)
    if filters.memory_type:
        parts.append("LOWER(m.memory_type) = ?")
        params.append(filters.memory_type.lower())
    if filters.after is not None:
        parts.append("m.created_at >= ?")
        params.append(filters.after)
    if filters.before is not None:
        parts.append("m.created_at <= ?")
        params.append(filters.before)
    if filters.stale_before is not None:
        column = "m.last_accessed" if "last_accessed" in schema.memory_columns else "NULL"
        parts.append(f"COALESCE({column}, m.created_at) < ?")
        params.append(filters.stale_before)
    if filters.agent_id is not None:
        parts.append(
            # json_valid first: a legacy row with broken metadata must not fail the query.
            "(CASE WHEN json_valid(m.metadata) THEN json_extract(m.metadata, '$.agent_id') END"
            " = ? "
            "OR (',' || m.tags || ',') LIKE ? ESCAPE '\\')"
        )
        params.extend(
            [filters.agent_id, f"%,{like_literal('agent:' + filters.agent_id.strip())},%"]
        )
    return " AND ".join(parts), params
