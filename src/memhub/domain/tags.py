"""Tags as mcp-memory-service normalizes, stores and matches them.

Stored as a lowercase CSV without spaces (``"a,b"``), ``"untagged"`` when empty. Legacy rows
may hold mixed case or ``"a, b"``; matching (:func:`carries`, which each engine's SQL
implements) ignores spaces and ASCII case, so those rows still match.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final

MAX_TAGS: Final = 100
MAX_TAG_CHARS: Final = 100
MAX_JSON_TAGS_CHARS: Final = 4096  # longer "[..." strings are one literal tag, as upstream
UNTAGGED: Final = "untagged"


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


def carries(raw: str | None, tags: list[str], match_all: bool) -> bool:
    """Whether a row stored with tags ``raw`` passes a filter on ``tags``: the rule every
    engine's SQL implements (and the tests hold them to).

    A tag matches one comma-separated entry of the row after spaces are removed from both and
    both are ASCII-lower-cased (legacy rows hold ``"Ops, Monitoring"``). Blank filter tags are
    ignored; a filter of only blank tags matches nothing; no filter tags matches everything.
    """
    if not tags:
        return True
    wanted = tag_keys(tags)
    if not wanted:
        return False
    entries = set(tag_keys((raw or "").split(",")))
    combine = all if match_all else any
    return combine(w in entries for w in wanted)


def tag_keys(tags: Sequence[str]) -> tuple[str, ...]:
    """The keys the tag rule compares: each non-blank tag with its spaces removed and its ASCII
    letters folded (in order, repeats kept out)."""
    keys: dict[str, None] = {}
    for tag in tags:
        if tag.strip():
            keys[_ascii_lower(tag.replace(" ", ""))] = None
    return tuple(keys)


def _ascii_lower(text: str) -> str:
    # SQL's LIKE (SQLite) and memhub's PostgreSQL rule fold ASCII letters only.
    return text.translate(_ASCII_FOLD)


_ASCII_FOLD: Final = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def filter_text_problem(text: str) -> str | None:
    """Why ``text`` cannot be a filter or search pattern, or None.

    A NUL ends a pattern inside SQLite (``"\\0"`` would match every row), so filters and
    queries carrying one are refused before they reach an engine.
    """
    if "\x00" in text:
        return "it contains a NUL character (U+0000)"
    return None
