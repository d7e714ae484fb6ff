"""Typed views of SQLite values: apsw returns ``int | float | str | bytes | None`` per column."""

from __future__ import annotations


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
