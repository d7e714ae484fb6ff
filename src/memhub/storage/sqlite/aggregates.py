"""Counts over the whole store for the web UI: tags, types, stores, and memories per day.

Every count covers all active memories (never a sample, unlike dashboards that count the first
thousand rows). Tags are stored as one CSV string per row, so SQL groups equal strings first and
Python splits each *distinct* string once, weighted by its count: memories repeat tag sets far
more often than they invent new ones, so the Python pass is over hundreds of strings, not the
whole table. A full count still costs a scan, so the daemon counts once and then follows the
change feed (:mod:`memhub.counts`); ``bench/webui_figures.py`` measures both.

Rows someone else wrote may hold anything in ``created_at``: the few that hold no number in
range are counted in Python with the value reads show for them (:func:`values.epoch`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memhub.domain.tags import tags_from_db
from memhub.storage.model import DEFAULT_STORE, DEFAULT_TYPE, Totals, local_day
from memhub.storage.sqlite import filters as sql_filters
from memhub.storage.sqlite.queries import store_column
from memhub.storage.sqlite.values import as_int, epoch, optional_text, text

if TYPE_CHECKING:
    import apsw

    from memhub.storage.sqlite.schema import Schema

_NUMERIC_TIME = (
    "typeof(m.created_at) IN ('integer', 'real') "
    "AND m.created_at BETWEEN -2208988800 AND 253402300799"
)


def count_all(conn: apsw.Connection, schema: Schema) -> dict[str, Totals]:
    """Every count from scratch, per store, inside the caller's read transaction."""
    by_store: dict[str, Totals] = {}

    def totals(store_name: object) -> Totals:
        return by_store.setdefault(text(store_name, DEFAULT_STORE), Totals())

    active = sql_filters.visible(schema, None)
    store = store_column(schema)
    for store_name, raw, count in conn.execute(
        f"SELECT {store}, m.tags, COUNT(*) FROM memories m WHERE {active} GROUP BY 1, 2"
    ):
        totals(store_name).add_tags(tags_from_db(optional_text(raw)), as_int(count))
    for store_name, kind, count in conn.execute(
        f"SELECT {store}, m.memory_type, COUNT(*) FROM memories m WHERE {active} GROUP BY 1, 2"
    ):
        part = totals(store_name)
        part.types[text(kind).strip().lower() or DEFAULT_TYPE] += as_int(count)
        part.memories += as_int(count)  # every row has one type: no scan of its own
    for store_name, day, count in conn.execute(
        f"SELECT {store}, date(m.created_at, 'unixepoch', 'localtime'), COUNT(*) FROM memories m "
        f"WHERE {active} AND {_NUMERIC_TIME} GROUP BY 1, 2"
    ):
        totals(store_name).days[text(day)] += as_int(count)
    for store_name, created in conn.execute(
        f"SELECT {store}, m.created_at FROM memories m WHERE {active} AND NOT ({_NUMERIC_TIME})"
    ):
        totals(store_name).days[local_day(epoch(created) or 0.0)] += 1
    return by_store
