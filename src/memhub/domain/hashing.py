"""The content hash mcp-memory-service uses as a memory's identity."""

from __future__ import annotations

import hashlib


def content_hash(content: str) -> str:
    """The sha256 hex digest of the stripped, lower-cased content, UTF-8 encoded.

    Only the content counts: tags, type and metadata do not (upstream issue #522), so the same
    text stored twice with different tags is a duplicate.
    """
    return hashlib.sha256(content.strip().lower().encode("utf-8")).hexdigest()
