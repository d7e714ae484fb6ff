"""Tags as mcp-memory-service normalizes, stores and matches them.

Stored as a lowercase CSV without spaces (``"a,b"``), ``"untagged"`` when empty. Legacy rows
may hold mixed case or ``"a, b"``; matching strips spaces from the column and relies on
SQLite's ASCII-case-insensitive LIKE, so those rows still match.
"""

from __future__ import annotations

import json
import re
from typing import Final

MAX_TAGS: Final = 100
MAX_TAG_CHARS: Final = 100
MAX_JSON_TAGS_CHARS: Final = 4096  # longer "[..." strings are one literal tag, as upstream
UNTAGGED: Final = "untagged"

_COLUMN: Final = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?")


def normalize_tags(value: object) -> list[str]:
    """Tags from a list, a CSV string, one tag, or a JSON-array string, normalized.

    A string starting with ``[`` of at most 4096 characters is parsed as a JSON array;
    if it is not valid JSON (or too long) it is one literal tag, as upstream treats it. Any
    other string is split on commas. Each tag is stripped, inner commas become ``-``, it is
    lower-cased and cut to 100 characters; empty tags and case-insensitive repeats are dropped and
    at most 100 tags are kept, in first-seen order. In a list, numbers are taken as their text
    and other non-strings are skipped; in a JSON-array string every element is taken as its
    ``str()``: both as upstream (and a model that sends ``[2024]`` means "2024").

    This is the one implementation: the bridge applies it to tool arguments, the daemon to
    every request, and applying it twice changes nothing.

    Raises:
        ValueError: the value is neither None, a string, nor a list/tuple.
    """
    return merge_tags(value)


def merge_tags(*values: object) -> list[str]:
    """The tags of several values (see :func:`normalize_tags`), in order, normalized as one."""
    tags: list[str] = []
    seen: set[str] = set()
    for value in values:
        for raw in _candidates(value):
            # Upstream cuts before lower-casing and does not strip again; lower-casing first
            # keeps every tag within 100 characters ("İ" lower-cases to two), and the second
            # strip keeps a cut from leaving a trailing space. Both make this idempotent.
            tag = raw.strip().replace(",", "-").lower()[:MAX_TAG_CHARS].rstrip()
            if tag and tag not in seen:
                seen.add(tag)
                tags.append(tag)
                if len(tags) == MAX_TAGS:
                    return tags
    return tags


def _candidates(value: object) -> list[str]:
    """The raw tag strings in a tags value, before normalization."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith("["):
            return text.split(",")
        if len(text) > MAX_JSON_TAGS_CHARS:
            return [text]
        try:
            loaded = json.loads(text)
        except (ValueError, RecursionError):
            return [text]
        return [str(item) for item in loaded] if isinstance(loaded, list) else [text]
    if isinstance(value, list | tuple):
        return [item if isinstance(item, str) else str(item) for item in value if _usable(item)]
    raise ValueError(f"tags must be a list of strings or a comma-separated string, got {value!r}")


def tags_to_db(tags: list[str]) -> str:
    """The stored form of normalized tags: ``"a,b"``, or ``"untagged"`` for none."""
    return ",".join(tags) if tags else UNTAGGED


def _usable(item: object) -> bool:
    """A list element that is a tag: a string or a number, not a bool (as upstream)."""
    return isinstance(item, str) or (isinstance(item, int | float) and not isinstance(item, bool))


def read_back(tags: list[str]) -> list[str]:
    """The tags a read of a row stored with these normalized tags returns (``["untagged"]`` for
    none), so that a write can answer with the record a later read would give."""
    return list(tags) if tags else [UNTAGGED]


def tags_from_db(raw: str | None) -> list[str]:
    """Tags from a stored CSV, tolerating legacy ``"a, b"``; stored case is kept for display."""
    if not raw:
        return []
    return [tag.strip() for tag in raw.split(",") if tag.strip()]


def _escape_like(text: str) -> str:
    # The backslash first, or the escapes added for % and _ would be escaped again.
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def tag_filter_sql(
    tags: list[str], match_all: bool, column: str = "m.tags"
) -> tuple[str, list[str]]:
    """A WHERE fragment matching rows that carry any (or all) of ``tags``, and its parameters.

    Each tag is one ``(',' || REPLACE(col, ' ', '') || ',') LIKE '%,<tag>,%' ESCAPE '\\'``
    clause, joined by OR (any) or AND (all) inside parentheses. LIKE is ASCII-case-insensitive,
    so legacy mixed-case rows match lowercase tags. Spaces are removed from the query tag as
    well as from the column: upstream removes them only from the column, so a tag with an
    inner space ("machine learning") could never match there. No tags gives ``("1", [])``;
    tags that are all blank give ``("0", [])``: a filter was asked for, and nothing passes it.

    Raises:
        ValueError: ``column`` is not a plain (optionally table-qualified) column name.
    """
    if not _COLUMN.fullmatch(column):
        raise ValueError(f"not a column name: {column!r}")
    if not tags:
        return "1", []
    params = [f"%,{_escape_like(t.replace(' ', ''))},%" for t in tags if t.strip()]
    if not params:
        return "0", []
    clause = f"(',' || REPLACE({column}, ' ', '') || ',') LIKE ? ESCAPE '\\'"
    joiner = " AND " if match_all else " OR "
    return "(" + joiner.join([clause] * len(params)) + ")", params
