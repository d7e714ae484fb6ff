"""Timestamps as mcp-memory-service writes them: REAL epochs plus naive-UTC ISO strings."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_utc(ts: float) -> str:
    """``datetime.utcfromtimestamp(ts).isoformat() + "Z"`` without the deprecated call."""
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None).isoformat() + "Z"


def parse_date_bound(value: str) -> float:
    """An ``after``/``before`` bound as an epoch.

    ``YYYY-MM-DD`` is local midnight (``datetime.fromisoformat(x).timestamp()``, as upstream);
    a value with a time part is UTC unless it carries an offset (12.x's ``parse_boundary``).

    Raises:
        ValueError: not an ISO date or date-time; the message names the expected format.
    """
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"invalid date {value!r}: expected YYYY-MM-DD or an ISO date-time"
        ) from None
    if len(text) == 10:  # a plain date: local midnight
        return parsed.timestamp()
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
