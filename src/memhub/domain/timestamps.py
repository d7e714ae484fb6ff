"""Timestamps as mcp-memory-service writes and filters them: REAL epochs, naive-UTC ISO text."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Final

_EXPECTED: Final = "expected YYYY-MM-DD or an ISO 8601 date-time such as 2026-11-18T09:30:00Z"


def iso_utc(ts: float) -> str:
    """``datetime.utcfromtimestamp(ts).isoformat() + "Z"``, without the deprecated call.

    Microseconds appear only when nonzero (``isoformat``'s rule), and rounding is the same
    round-half-even to the microsecond, so the text is byte-identical to upstream's.
    """
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None).isoformat() + "Z"


def parse_date_bound(value: str, *, end_of_day: bool) -> float:
    """An ``after``/``before`` filter value as an epoch.

    A date alone (``YYYY-MM-DD``) is a local calendar day (``datetime.fromisoformat(x)
    .timestamp()``, as upstream); with ``end_of_day`` it is that day's last microsecond instead
    of its midnight. A value with a time part is an instant: UTC unless it carries an offset
    (``Z`` included), as 12.x's ``parse_boundary`` reads it (10.59 read it as local time).

    Upstream (10.59 ``storage/base.py::search_memories`` and 12.x alike) turns ``before`` into
    the before-day's *midnight* and keeps ``created_at <= before``, so the before-day itself is
    excluded, and ``after`` into its midnight with ``created_at >= after``. Callers matching
    upstream therefore pass ``end_of_day=False`` for both bounds.

    Raises:
        ValueError: the value is not an ISO 8601 date or date-time; the message names the
            expected format.
    """
    text = value.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return datetime.combine(day, time.max if end_of_day else time.min).timestamp()
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"invalid date {value!r}: {_EXPECTED}") from None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.timestamp()
