"""A memory row as ``memhub migrate`` moves it: every column either layout has, and its vector.

One :class:`Row` holds the union of mcp-memory-service's columns across generations (10.x, 12.x)
and memhub's team layout, exactly as stored (the metadata text byte for byte, both REAL epochs
and both ISO strings, the tombstone time, 12.x's store and evolution columns), plus the raw
float32 vector when the row has one. A column a layout lacks reads as None; what a layout gives a
row that did not say (12.x's ``store = 'default'``, ``embedding_pending = 0``) is filled in the
same way on both sides before rows are compared, so that "equal" means "nothing was lost".

The digest of a side is order-independent (a sum of per-row SHA-256 values modulo 2^256), so a
source and a destination that hold the same rows under different ids compare equal.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any, Final

import attrs
import numpy as np

from memhub.storage.model import FloatArray

COLUMNS: Final = (
    "content_hash",
    "content",
    "tags",
    "memory_type",
    "metadata",
    "created_at",
    "updated_at",
    "created_at_iso",
    "updated_at_iso",
    "deleted_at",
    "store",
    "parent_id",
    "version",
    "confidence",
    "last_accessed",
    "superseded_by",
    "embedding_pending",
)
TEXT: Final = frozenset(
    {
        "content_hash",
        "content",
        "tags",
        "memory_type",
        "metadata",
        "created_at_iso",
        "updated_at_iso",
        "store",
        "parent_id",
        "superseded_by",
    }
)
REAL: Final = frozenset({"created_at", "updated_at", "deleted_at", "confidence"})
INTEGER: Final = frozenset({"version", "last_accessed", "embedding_pending"})
#: Integers PostgreSQL keeps in 32 bits (the others in 64).
INTEGER32: Final = frozenset({"version", "embedding_pending"})
#: What a layout gives a row that did not say otherwise (compared as equal to "not said").
DEFAULTS: Final = {"store": "default", "embedding_pending": 0}
_INT64: Final = 2**63
_INT32: Final = 2**31


@attrs.frozen
class Row:
    values: tuple[Any, ...]  # in COLUMNS order
    vector: FloatArray | None
    broken: str | None = None  # why the side could not read it as it is (a malformed vector)

    def get(self, column: str) -> Any:
        return self.values[COLUMNS.index(column)]

    @property
    def content_hash(self) -> str:
        return str(self.values[0])

    @property
    def active(self) -> bool:
        return self.get("deleted_at") is None


def make_row(found: dict[str, Any], vector: FloatArray | None, broken: str | None = None) -> Row:
    """A row from whatever columns a side has (the others are None)."""
    return Row(tuple(found.get(column) for column in COLUMNS), vector, broken)


def problem(row: Row) -> str | None:
    """Why ``row`` cannot be copied without changing it (a value its column type cannot hold
    in the other engine), or None."""
    if row.broken is not None:
        return row.broken
    for column, value in zip(COLUMNS, row.values, strict=True):
        if value is None:
            if column in ("content_hash", "content"):
                return f"{column} is NULL"
            continue
        if column in TEXT:
            if not isinstance(value, str):
                return f"{column} is a {type(value).__name__}, not text"
            if "\x00" in value:
                return f"{column} holds a NUL character (PostgreSQL text cannot)"
        elif column in REAL:
            if isinstance(value, bool) or not isinstance(value, int | float):
                return f"{column} is {value!r}, not a number"
            if isinstance(value, float) and not math.isfinite(value):
                return f"{column} is {value!r}"
        elif column in INTEGER:
            bound = _INT32 if column in INTEGER32 else _INT64
            if isinstance(value, bool) or not isinstance(value, int) or not -bound <= value < bound:
                return f"{column} is {value!r}, not an integer PostgreSQL's column can hold"
    return None


def canonical(row: Row) -> tuple[Any, ...]:
    """The values compared across sides: defaults filled in, numbers as floats or ints."""
    out = []
    for column, value in zip(COLUMNS, row.values, strict=True):
        if value is None:
            value = DEFAULTS.get(column)
        elif column in REAL:
            value = float(value)
        out.append(value)
    return tuple(out)


def vector_bytes(vector: FloatArray | None) -> bytes | None:
    return None if vector is None else np.ascontiguousarray(vector, dtype="<f4").tobytes()


def row_digest(row: Row, *, with_vector: bool) -> int:
    text = json.dumps(canonical(row), ensure_ascii=False, separators=(",", ":"))
    h = hashlib.sha256(text.encode("utf-8"))
    if with_vector:
        blob = vector_bytes(row.vector)
        h.update(b"\x00none" if blob is None else b"\x00" + blob)
    return int.from_bytes(h.digest(), "big")


@attrs.define
class SideSummary:
    """Counts and the digest of the rows one side holds (of the source's hashes)."""

    rows: int = 0
    active: int = 0
    deleted: int = 0
    with_vector: int = 0
    _sum: int = 0

    def add(self, row: Row, *, with_vector: bool) -> None:
        self.rows += 1
        self.active += row.active
        self.deleted += not row.active
        self.with_vector += row.vector is not None
        self._sum = (self._sum + row_digest(row, with_vector=with_vector)) % 2**256

    def add_all(self, rows: Sequence[Row], *, with_vector: bool) -> None:
        for row in rows:
            self.add(row, with_vector=with_vector)

    @property
    def digest(self) -> str:
        return f"{self._sum:064x}"[:16]

    def same_as(self, other: SideSummary) -> bool:
        return (self.rows, self.active, self.deleted, self.with_vector, self._sum) == (
            other.rows,
            other.active,
            other.deleted,
            other.with_vector,
            other._sum,
        )
