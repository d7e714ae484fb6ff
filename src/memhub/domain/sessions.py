"""A conversation stored as ``session`` memories: its id, its chunks, their tags and metadata.

Turns are kept whole and in order as ``[role] content`` lines; a session longer than the chunk
size is split on turn boundaries, and each chunk carries ``session:<id>`` (plus
``chunk:<i>/<n>`` when split) and the id in its metadata, so that the tag and the metadata name
the same session.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import attrs

from memhub.domain.tags import MAX_TAG_CHARS, merge_tags

SESSION_TAG: Final = "session:"
MAX_SESSION_ID_CHARS: Final = MAX_TAG_CHARS - len(SESSION_TAG)


@attrs.frozen(kw_only=True)
class SessionChunk:
    """One memory of a stored session."""

    content: str
    tags: list[str]
    metadata: dict[str, object]


def session_id_of(raw: str) -> str:
    """The id a session is stored under: stripped, commas replaced by ``-``.

    A comma would split the ``session:<id>`` tag (tags are stored comma-separated), so it
    becomes ``-`` in the id itself, and the tag and the metadata agree.

    Raises:
        ValueError: the id is blank, or too long for its tag (at most 92 characters).
    """
    session_id = raw.strip().replace(",", "-")
    if not session_id:
        raise ValueError("session_id is empty")
    if len(session_id) > MAX_SESSION_ID_CHARS:
        raise ValueError(
            f"session_id is {len(session_id)} characters; at most {MAX_SESSION_ID_CHARS} fit "
            f"in its '{SESSION_TAG}' tag"
        )
    return session_id


def chunk_lines(lines: Sequence[str], size: int) -> list[list[str]]:
    """``lines`` in order, grouped into chunks of at most ``size`` characters (newlines
    counted) without splitting a line; a line longer than ``size`` is a chunk of its own.
    ``size`` 0 or less means one chunk."""
    if size <= 0:
        return [list(lines)]
    chunks: list[list[str]] = [[]]
    length = 0
    for line in lines:
        if chunks[-1] and length + len(line) + 1 > size:
            chunks.append([])
            length = 0
        chunks[-1].append(line)
        length += len(line) + 1
    return chunks


def session_chunks(
    turns: Sequence[tuple[str, str]],
    session_id: str,
    *,
    tags: Sequence[str],
    metadata: Mapping[str, object],
    chunk_size: int,
) -> list[SessionChunk]:
    """The memories that store ``turns`` (``(role, content)`` pairs) as session ``session_id``.

    ``session_id`` must come from :func:`session_id_of`; ``tags`` are added after the session
    tag, and ``metadata`` under the session keys (``session_id``, ``turns``, and for a split
    session ``chunk_index``/``total_chunks``), which win over same-named keys in it.
    """
    lines = [f"[{role}] {content}" for role, content in turns]
    texts = ["\n".join(chunk) for chunk in chunk_lines(lines, chunk_size)]
    chunks = []
    for index, text in enumerate(texts):
        chunk_tags = [f"{SESSION_TAG}{session_id}", *tags]
        meta: dict[str, object] = {**metadata, "session_id": session_id, "turns": len(turns)}
        if len(texts) > 1:
            chunk_tags.append(f"chunk:{index + 1}/{len(texts)}")
            meta.update(chunk_index=index, total_chunks=len(texts))
        chunks.append(SessionChunk(content=text, tags=merge_tags(chunk_tags), metadata=meta))
    return chunks
