"""12.4's regex entity extraction (``reasoning/entities.py``), as ``maintain`` runs it.

High-precision patterns only, no model: ``@mentions`` (person), ``#hashtags`` (tag), URLs,
file paths, then the memory's tags, then the configured custom terms; the first occurrence of
a name wins (case-insensitively). 12.4's pluggable domain extractors
(``MCP_ENTITY_EXTRACTOR_MODULES``) import arbitrary code and are not loaded by memhub.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final

import attrs

MENTION: Final = re.compile(r"@([\w.-]+)")
HASHTAG: Final = re.compile(r"#([\w-]+)")
URL: Final = re.compile(r"https?://[^\s<>\"']+")
PATH: Final = re.compile(
    r"(?:^|[\s(])(/[\w./-]+|[\w./]*[a-zA-Z][\w./]*\.\w{1,5})(?=[\s),:;]|$)", re.MULTILINE
)


@attrs.frozen
class Entity:
    name: str
    entity_type: str


def tag_list(value: object) -> list[str]:
    """Tags as 12.4 reads them from either place: a list, or a comma-separated string."""
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    if isinstance(value, list | tuple):
        return [str(t) for t in value]
    return []


def extract(content: str, tags: Iterable[str], custom_terms: Sequence[str] = ()) -> list[Entity]:
    found: list[Entity] = []
    seen: set[str] = set()

    def add(name: str, kind: str) -> None:
        if name.lower() not in seen:
            seen.add(name.lower())
            found.append(Entity(name, kind))

    for match in MENTION.finditer(content):
        add(match.group(1), "person")
    for match in HASHTAG.finditer(content):
        add(match.group(1), "tag")
    for match in URL.finditer(content):
        add(match.group(0), "url")
    for match in PATH.finditer(content):
        path = match.group(1).strip()
        if "/" in path or "." in path:
            add(path, "file")
    for tag in tags:
        add(tag, "tag")
    for term in custom_terms:
        pattern = r"(?<![a-zA-Z0-9_-])" + re.escape(term) + r"(?![a-zA-Z0-9_-])"
        if re.search(pattern, content, re.IGNORECASE):
            add(term, "custom")
    return found
