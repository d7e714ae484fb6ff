"""Timestamps as mcp-memory-service writes and filters them: REAL epochs, naive-UTC ISO text."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

_EXPECTED: Final = "expected YYYY-MM-DD or an ISO 8601 date-time such as 2026-11-18T09:30:00Z"


def iso_utc(ts: float) -> str:
    """``datetime.utcfromtimestamp(ts).isoformat() + "Z"``, without the deprecated call.

    Microseconds appear only when nonzero (``isoformat``'s rule), and rounding is the same
    round-half-even to the microsecond, so the text is byte-identical to upstream's.
    """
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None).isoformat() + "Z"


def parse_date_bound(value: str) -> float:
    """An ``after``/``before`` filter value as an epoch, as mcp-memory-service 10.59 reads it.

    ``datetime.fromisoformat(value).timestamp()``: a date alone (``YYYY-MM-DD``) is local
    midnight, a date-time without an offset is local time, and an offset (``Z`` included) is
    respected. Upstream compares ``created_at >= after`` and ``created_at <= before`` with these
    values, so a ``before`` date excludes that day itself. (12.x reads a date-time without an
    offset as UTC instead; memhub keeps 10.59's reading until its tools follow 12.x.)

    Raises:
        ValueError: the value is not an ISO 8601 date or date-time; the message names the
            expected format.
    """
    try:
        return datetime.fromisoformat(value.strip()).timestamp()
    except ValueError:
        raise ValueError(f"invalid date {value!r}: {_EXPECTED}") from None
