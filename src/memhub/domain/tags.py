"""Tags as mcp-memory-service stores and matches them.

Stored as a lowercase CSV without spaces (``"a,b"``), ``"untagged"`` when empty. Legacy rows may
hold mixed case or ``"a, b"``; matching strips spaces from the column and relies on SQLite's
ASCII-case-insensitive LIKE, so those rows still match.
"""

from __future__ import annotations

import json
from typing import Final

MAX_TAGS: Final = 100
MAX_TAG_LENGTH: Final = 100
MAX_JSON_TAGS_CHARS: Final = 4096
UNTAGGED: Final = "untagged"


def normalize_tags(value: object) -> list[str]:
    """Tags from a list, a CSV string, one tag, or a JSON-array string, normalized.

    Each tag is stripped, inner commas become ``-``, cut to 100 characters and lower-cased;
    case-insensitive repeats and empty tags are dropped; at most 100 tags are kept.

    Raises:
        ValueError: the value or an element is not a string.
    """
    if value is None:
        return []
    raw: list[object]
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and len(text) <= MAX_JSON_TAGS_CHARS:
            try:
                loaded = json.loads(text)
            except ValueError:
                loaded = None
            raw = list(loaded) if isinstance(loaded, list) else list(text.split(","))
        else:
            raw = list(text.split(","))
    elif isinstance(value, list | tuple):
        raw = list(value)
    else:
        raise ValueError(f"tags must be a list of strings or a string, not {type(value).__name__}")
    tags: list[str] = []
    seen: set[str] = set()
    for item in raw:
        if not isinstance(item, str):
            raise ValueError(f"each tag must be a string, not {type(item).__name__}")
        tag = item.strip().replace(",", "-")[:MAX_TAG_LENGTH].strip().lower()
        if tag and tag not in seen:
            seen.add(tag)
            tags.append(tag)
        if len(tags) == MAX_TAGS:
            break
    return tags


def tags_to_db(tags: list[str]) -> str:
    """The stored form: ``"a,b"``, or ``"untagged"`` for no tags."""
    return ",".join(tags) if tags else UNTAGGED


def tags_from_db(raw: str | None) -> list[str]:
    """Tags from the stored CSV, tolerating legacy spaces (stored case is kept for display)."""
    if not raw:
        return []
    return [t.strip() for t in raw.split(",") if t.strip()]


def _escape_like(tag: str) -> str:
    return tag.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def tag_filter_sql(
    tags: list[str], match_all: bool, column: str = "m.tags"
) -> tuple[str, list[str]]:
    """A WHERE fragment matching any (or all) of ``tags``, and its parameters."""
    if not tags:
        return "1", []
    clause = f"(',' || REPLACE({column}, ' ', '') || ',') LIKE ? ESCAPE '\\'"
    joiner = " AND " if match_all else " OR "
    sql = "(" + joiner.join([clause] * len(tags)) + ")"
    return sql, [f"%,{_escape_like(t.replace(' ', ''))},%" for t in tags]
