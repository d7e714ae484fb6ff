"""12.4's entity graph without an LLM: which entities a memory names, and how they are stored.

mcp-memory-service 12.4 (``reasoning/entities.py``) finds entities with a few high-precision
patterns and no model: ``@mentions`` (person), ``#hashtags`` (tag), URLs (url), file paths
(file), the memory's tags (tag), and the terms configured in ``MCP_ENTITY_CUSTOM_TERMS``
(custom). The first occurrence of a name wins; names are compared case-insensitively.

Entities have no table of their own: each is the ``target_hash`` of a ``has_entity`` row of
``memory_graph`` whose source is the memory (similarity 1.0, connection types
``["entity"]``, metadata ``{"entity_type": …}``), written with "insert or ignore". Its public
id is a slug of the name (:func:`entity_id`); several stored names may share one id.
"""

from __future__ import annotations

import hashlib
import re
import time
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs

from memhub.storage.relations import HAS_ENTITY, Edge

if TYPE_CHECKING:
    from memhub.config import Settings
    from memhub.protocol import messages as m
    from memhub.storage.engine import WriteTxn

_MENTION: Final = re.compile(r"@([\w.-]+)")
_HASHTAG: Final = re.compile(r"#([\w-]+)")
_URL: Final = re.compile(r"https?://[^\s<>\"']+")
# A path starts a line, follows a blank or "(", and ends before a blank, ")", ",", ":", ";"
# or the end: an absolute path, or a name with a letter and a 1-5 character extension.
_PATH: Final = re.compile(
    r"(?:^|[\s(])(/[\w./-]+|[\w./]*[a-zA-Z][\w./]*\.\w{1,5})(?=[\s),:;]|$)", re.MULTILINE
)
_NOT_SLUG: Final = re.compile(r"[^a-z0-9]+")
SHARES_ENTITY: Final = "shares_entity"
MAX_LINKS_PER_ENTITY: Final = 20
"""``shares_entity`` edges one stored memory gets per entity (12.4's ``EntityLinker`` cap)."""


@attrs.frozen
class Entity:
    name: str
    entity_type: str
    """person, tag, url, file or custom."""
    source: str
    """content, metadata (a tag) or config (a custom term)."""


def entity_id(name: str) -> str:
    """12.4's ``normalize_entity_id``: the NFKD form without combining marks, lower-cased and
    stripped, every run of characters other than ``a-z0-9`` a ``-`` (none at either end);
    a name with nothing left is ``e-`` and 8 hex digits of its SHA-1."""
    decomposed = unicodedata.normalize("NFKD", name or "")
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    slug = _NOT_SLUG.sub("-", plain.lower().strip()).strip("-")
    if slug:
        return slug
    return "e-" + hashlib.sha1((name or "").encode("utf-8")).hexdigest()[:8]


def tag_list(value: object) -> list[str]:
    """Tags as 12.4's extraction takes them: a list, or a comma-separated string."""
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    if isinstance(value, list | tuple):
        return [str(t) for t in value]
    return []


def merged_tags(tags: Iterable[str], metadata: Mapping[str, Any]) -> list[str]:
    """``metadata['tags']`` then the memory's tags, each once (12.4's callers merge both)."""
    return list(dict.fromkeys([*tag_list(metadata.get("tags")), *tag_list(list(tags))]))


def custom_terms(raw: str | None) -> list[str]:
    """The terms of ``MCP_ENTITY_CUSTOM_TERMS`` (a comma-separated list)."""
    return [t.strip() for t in (raw or "").split(",") if t.strip()]


def extract(content: str, tags: Sequence[str] = (), terms: Sequence[str] = ()) -> list[Entity]:
    """The entities 12.4's ``EntityExtractor`` finds in ``content`` and ``tags``, in its order
    (mentions, hashtags, URLs, paths, tags, custom terms), each name once (case-insensitive)."""
    found: list[Entity] = []
    seen: set[str] = set()

    def add(name: str, kind: str, source: str = "content") -> None:
        key = name.lower()
        if key not in seen:
            seen.add(key)
            found.append(Entity(name, kind, source))

    for match in _MENTION.finditer(content):
        add(match.group(1), "person")
    for match in _HASHTAG.finditer(content):
        add(match.group(1), "tag")
    for match in _URL.finditer(content):
        add(match.group(0), "url")
    for match in _PATH.finditer(content):
        candidate = match.group(1).strip()
        if "/" in candidate or "." in candidate:
            add(candidate, "file")
    for tag in tags:
        add(tag, "tag", "metadata")
    for term in terms:
        bounded = rf"(?<![a-zA-Z0-9_-]){re.escape(term)}(?![a-zA-Z0-9_-])"
        if re.search(bounded, content, re.IGNORECASE):
            add(term, "custom", "config")
    return found


def links(memory_hash: str, entities: Iterable[Entity], now: float | None = None) -> list[Edge]:
    """The ``has_entity`` rows 12.4's ``store_entity_link`` writes for these entities (to be
    written with ``put_edges(..., replace=False)``: an existing pair is kept)."""
    at = time.time() if now is None else now
    return [
        Edge(
            source=memory_hash,
            target=e.name,
            similarity=1.0,
            connection_types=["entity"],
            metadata={"entity_type": e.entity_type},
            relationship_type=HAS_ENTITY,
            created_at=at,
        )
        for e in entities
        if e.name
    ]


def link_stored(
    txn: WriteTxn, record: m.MemoryRecord, terms: Sequence[str] = (), now: float | None = None
) -> int:
    """12.4's entity linking on store (``MCP_ENTITY_LINKING_ENABLED``), in the store's own
    transaction: the memory's ``has_entity`` rows, then ``shares_entity`` edges (both
    directions, replacing the pair's edge) to the other memories of each entity, newest
    first, at most :data:`MAX_LINKS_PER_ENTITY` per entity. Returns the edges written."""
    found = extract(record.content, merged_tags(record.tags, record.metadata), terms)
    if not found:
        return 0
    at = time.time() if now is None else now
    me = record.content_hash
    written = txn.put_edges(links(me, found, at), replace=False)
    pairs: set[tuple[str, str]] = set()
    shared: list[Edge] = []
    for name in dict.fromkeys(e.name for e in found):
        made = 0
        # 12.4 reads the entity's 20 newest memories (this one among them) and links them
        for other in txn.entity_memories(name, MAX_LINKS_PER_ENTITY):
            if other == me or made >= MAX_LINKS_PER_ENTITY:
                continue
            pair = (min(me, other), max(me, other))
            if pair in pairs:
                continue
            pairs.add(pair)
            made += 1
            for source, target in ((me, other), (other, me)):
                shared.append(
                    Edge(
                        source=source,
                        target=target,
                        similarity=1.0,
                        connection_types=["entity"],
                        metadata={"shared_entity": name},
                        relationship_type=SHARES_ENTITY,
                        created_at=at,
                    )
                )
    if shared:
        written += txn.put_edges(shared, replace=True)
    return written


def on_store(settings: Settings, txn: WriteTxn, record: m.MemoryRecord) -> None:
    """Link a memory just stored (or a new version) when ``MCP_ENTITY_LINKING_ENABLED`` is
    set, as 12.4's post-store step does."""
    if settings.entity_linking:
        link_stored(txn, record, custom_terms(settings.entity_custom_terms))
