"""Shared builders of the domain tests."""

from __future__ import annotations

from datetime import datetime


def local(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    microsecond: int = 0,
) -> datetime:
    """A naive datetime: local time, as the rules under test read it."""
    return datetime(year, month, day, hour, minute, second, microsecond)
