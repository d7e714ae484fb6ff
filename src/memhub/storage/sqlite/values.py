"""Typed views of SQLite values, total over whatever a column can hold.

apsw returns ``int | float | str | bytes | None`` for any column, whatever its declared type:
SQLite's columns are only affinities, and other programs write into the same file. The strict
views (``as_int``…) are for values memhub's own SQL produces (``COUNT(*)``, ``id``); the lenient
ones (``epoch``, ``text``…) are for columns of rows someone else may have written, and never
raise, so that one odd row cannot fail a page, a search or a count for every client.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Final

#: Epochs outside this range (before 1900, after 9999) are not times a memory was made.
_EPOCH_MIN: Final = -2208988800.0
_EPOCH_MAX: Final = 253402300799.0


def as_int(value: object) -> int:
    if isinstance(value, int):
        return value
    raise TypeError(f"expected an integer column, got {type(value).__name__}")


def as_float(value: object, default: float = 0.0) -> float:
    if value is None:
        return default
    if isinstance(value, int | float):
        return float(value)
    raise TypeError(f"expected a numeric column, got {type(value).__name__}")


def as_str(value: object) -> str:
    if isinstance(value, str):
        return value
    raise TypeError(f"expected a text column, got {type(value).__name__}")


def as_bytes(value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    raise TypeError(f"expected a blob column, got {type(value).__name__}")


def epoch(value: object) -> float | None:
    """A time column as epoch seconds, or None when it holds no usable time.

    Accepts numbers in range, numeric text (``"1700000000.5"``) and ISO-8601 text
    (``"2024-05-01T10:00:00Z"``, naive taken as UTC); anything else (``"yesterday"``, a
    blob, ``1e300``, NaN) is None.
    """
    if isinstance(value, bool):
        return None
    number: float | None = None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        number = _parse_time_text(value.strip())
    if number is None or not math.isfinite(number) or not _EPOCH_MIN <= number <= _EPOCH_MAX:
        return None
    return number


def _parse_time_text(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.timestamp()
    except (OverflowError, OSError, ValueError):
        return None


def text(value: object, default: str = "") -> str:
    """A text column as ``str``: blobs decoded as UTF-8 (invalid bytes replaced), numbers as
    their digits, NULL as ``default``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if value is None:
        return default
    return str(value)


def optional_text(value: object) -> str | None:
    """Like :func:`text`, but NULL stays None."""
    return None if value is None else text(value)
