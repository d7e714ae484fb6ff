"""The content hash mcp-memory-service uses as a memory's identity."""

from __future__ import annotations

import hashlib


def content_hash(content: str) -> str:
    """sha256 of the stripped, lower-cased content (tags, type and metadata do not count)."""
    return hashlib.sha256(content.strip().lower().encode("utf-8")).hexdigest()
