""":class:`~memhub.storage.model.Filters` compiled to PostgreSQL SQL over the alias ``m``.

The same rules as the SQLite engine (:mod:`memhub.storage.sqlite.filters`), with the same
results: tags match a comma-separated entry with spaces removed and ASCII letters folded
(``translate``: PostgreSQL's ILIKE would fold other letters too, SQLite does not), every pattern
is a literal (LIKE's ``%``, ``_`` and ``\\`` escaped), NULs never get here.
"""

from __future__ import annotations

from typing import Any, Final

from memhub.storage.model import Filters

_UPPER: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER: Final = "abcdefghijklmnopqrstuvwxyz"


def fold(sql: str) -> str:
    """``sql`` with ASCII letters lower-cased (and nothing else)."""
    return f"translate({sql}, '{_UPPER}', '{_LOWER}')"


def like_literal(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def visible(store: str | None, alias: str = "m") -> tuple[str, list[Any]]:
    if store is None:
        return f"{alias}.deleted_at IS NULL", []
    return f"{alias}.deleted_at IS NULL AND {alias}.store = %s", [store]


def searchable(store: str | None, include_superseded: bool) -> tuple[str, list[Any]]:
    sql, params = visible(store)
    if not include_superseded:
        sql += " AND (m.superseded_by IS NULL OR m.superseded_by = '')"
    return sql, params


#: ``,a,b,`` of a row's tags as stored, ASCII-folded (12.x's ``agent:<id>`` tag test).
_TAG_LIST: Final = fold("',' || coalesce(m.tags, '') || ','")


def tags_sql(tags: list[str], match_all: bool) -> tuple[str, list[Any]]:
    if not tags:
        return "TRUE", []
    params = [f"%,{like_literal(_ascii_lower(t.replace(' ', '')))},%" for t in tags if t.strip()]
    if not params:
        return "FALSE", []
    column = fold("',' || replace(coalesce(m.tags, ''), ' ', '') || ','")
    clause = f"{column} LIKE %s"
    joiner = " AND " if match_all else " OR "
    return "(" + joiner.join([clause] * len(params)) + ")", params


def _ascii_lower(text: str) -> str:
    return text.translate(str.maketrans(_UPPER, _LOWER))


def where(filters: Filters, *, for_search: bool) -> tuple[str, list[Any]]:
    """The condition of ``filters`` over alias ``m``, with its parameters."""
    if for_search:
        base, params = searchable(filters.store, filters.include_superseded)
    else:
        base, params = visible(filters.store)
    parts = [base]
    if filters.tags:
        sql, tag_params = tags_sql(filters.tags, filters.match_all)
        parts.append(sql)
        params.extend(tag_params)
    if filters.memory_type:
        parts.append(f"{fold('m.memory_type')} = %s")
        params.append(filters.memory_type.lower())  # as SQLite's LOWER(col) = lower(value)
    if filters.after is not None:
        parts.append("m.created_at >= %s")
        params.append(filters.after)
    if filters.before is not None:
        parts.append("m.created_at <= %s")
        params.append(filters.before)
    if filters.stale_before is not None:
        parts.append("COALESCE(m.last_accessed, m.created_at) < %s")
        params.append(filters.stale_before)
    if filters.agent_id is not None:
        tag = like_literal(_ascii_lower("agent:" + filters.agent_id.strip()))
        parts.append(f"(json_text(m.metadata, 'agent_id') = %s OR {_TAG_LIST} LIKE %s)")
        params.extend([filters.agent_id, f"%,{tag},%"])
    return " AND ".join(parts), params
