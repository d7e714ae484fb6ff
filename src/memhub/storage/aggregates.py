"""Counts over the whole store for the web UI: tags, types, and memories per day.

Every count covers all active memories (never a sample, unlike dashboards that count the first
thousand rows). Tags are stored as one CSV string per row, so SQL groups equal strings first and
Python splits each *distinct* string once, weighted by its count: memories repeat tag sets far
more often than they invent new ones, so the Python pass is over hundreds of strings, not the
whole table. Even so a full count costs a scan (hundreds of ms at 100k memories on a busy
laptop), so the daemon keeps the totals in :class:`AggregateCache` and only recounts when its own
events cannot explain a change. ``bench/webui_figures.py`` measures both.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Final

import apsw
import attrs

from memhub.domain.tags import UNTAGGED, tags_from_db
from memhub.protocol import messages as m
from memhub.storage.schema import Schema
from memhub.storage.sqlvalues import as_int, as_str

DEFAULT_TYPE: Final = "note"


def tag_counts(
    conn: apsw.Connection, schema: Schema, limit: int
) -> tuple[list[tuple[str, int]], int]:
    """The ``limit`` most used tags (count, then name) and how many distinct tags exist.

    Tags compare case-insensitively, as tag filters do; the first spelling seen is shown.
    """
    totals = Totals()
    _count_tag_groups(conn, schema, totals)
    return totals.ranked_tags(limit), len(totals.tags)


def _count_tag_groups(conn: apsw.Connection, schema: Schema, totals: Totals) -> None:
    active = schema.active_filter("m")
    sql = f"SELECT m.tags, COUNT(*) FROM memories m WHERE {active} GROUP BY m.tags"
    for raw, count in conn.execute(sql):
        totals.add_tags(tags_from_db(raw if isinstance(raw, str) else None), as_int(count))


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


# ---------------------------------------------------------------------------------------------
# The daemon's cache: full counts once, then kept current from its own writes


@attrs.frozen
class Fingerprint:
    """Cheap (indexed) facts that move whenever rows are inserted or soft-deleted."""

    max_id: int
    deleted: int


@attrs.define
class Totals:
    """Counts over every active memory."""

    tags: Counter[str] = attrs.field(factory=Counter)
    spelling: dict[str, str] = attrs.field(factory=dict)
    types: Counter[str] = attrs.field(factory=Counter)
    days: Counter[str] = attrs.field(factory=Counter)

    def add_tags(self, tags: list[str], n: int) -> None:
        for tag in set(tags):
            key = tag.lower()
            if key == UNTAGGED:
                continue
            self.spelling.setdefault(key, tag)
            self.tags[key] += n

    def ranked_tags(self, limit: int) -> list[tuple[str, int]]:
        ranked = sorted(self.tags.items(), key=lambda item: (-item[1], item[0]))[:limit]
        return [(self.spelling[key], n) for key, n in ranked if n > 0]

    def ranked_types(self) -> list[tuple[str, int]]:
        return sorted(self.types.items(), key=lambda item: (-item[1], item[0]))

    def days_since(self, first_day: str) -> list[tuple[str, int]]:
        return sorted((d, n) for d, n in self.days.items() if d >= first_day and n > 0)


def fingerprint(conn: apsw.Connection) -> Fingerprint:
    max_id = conn.execute("SELECT COALESCE(MAX(id), 0) FROM memories").fetchall()[0][0]
    deleted = conn.execute("SELECT COUNT(*) FROM memories WHERE deleted_at IS NOT NULL").fetchall()[
        0
    ][0]
    return Fingerprint(as_int(max_id), as_int(deleted))


def load_totals(conn: apsw.Connection, schema: Schema) -> tuple[Totals, Fingerprint]:
    """Every count from scratch, in one read transaction (so the fingerprint matches them)."""
    totals = Totals()
    with conn:  # one snapshot for all four statements
        found = fingerprint(conn)
        _count_tag_groups(conn, schema, totals)
        totals.types.update(dict(type_counts(conn, schema)))
        totals.days.update(dict(day_counts(conn, schema, float("-inf"))))
    return totals, found


def local_day(epoch: float) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(epoch))


class AggregateCache:
    """Counts kept current without rescanning: stores through the daemon are added as their
    events arrive; anything else (an update or delete, or a row another process wrote, seen
    as an unexplained move of the fingerprint) makes the next request recount from scratch.
    A legacy process's tag *edit* in place is not detected until the next recount."""

    def __init__(self) -> None:
        self.totals: Totals | None = None
        self._at: Fingerprint | None = None
        self._own_inserts = 0

    def apply(self, events: list[m.Event]) -> None:
        """EventHub listener (runs in the daemon's trio thread, after the commit)."""
        totals = self.totals
        if totals is None:
            return
        for event in events:
            memory = event.memory
            if event.kind != "stored" or memory is None:
                self.totals = None  # the old values of the row are unknown here: recount
                return
            totals.add_tags(memory.tags, 1)
            totals.types[memory.memory_type or DEFAULT_TYPE] += 1
            totals.days[local_day(memory.created_at)] += 1
            self._own_inserts += 1

    def current(self, now: Fingerprint) -> Totals | None:
        """The totals if ``now`` is explained by the writes applied since the last recount."""
        at = self._at
        if self.totals is None or at is None:
            return None
        if now.deleted != at.deleted or now.max_id - at.max_id != self._own_inserts:
            return None
        return self.totals

    def reset(self, totals: Totals, at: Fingerprint) -> None:
        self.totals, self._at, self._own_inserts = totals, at, 0
