"""What a memory's content and metadata must be before anything is stored."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final

MAX_METADATA_CHARS: Final = 1_000_000


class ContentError(ValueError):
    """Content or metadata that cannot be stored; ``too_large`` tells a size limit from a
    malformed value (the daemon answers ``too_large`` or ``bad_request``)."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


def check_content(content: str, max_chars: int) -> str:
    """The content, if it can be stored: not blank, at most ``max_chars`` characters.

    Raises:
        ContentError: blank, or too long (the message names ``MEMHUB_MAX_CONTENT_CHARS``).
    """
    if not content.strip():
        raise ContentError("content is empty")
    if len(content) > max_chars:
        raise ContentError(
            f"content is {len(content)} characters; the limit is {max_chars} "
            "(MEMHUB_MAX_CONTENT_CHARS)",
            too_large=True,
        )
    return content


def check_metadata(metadata: Mapping[str, object]) -> dict[str, object]:
    """A shallow copy of ``metadata`` (callers add keys to it), if it is plain JSON.

    The codec already decoded it from JSON, so this only proves that it encodes back without
    NaN or Infinity and within 1 MB; it is not decoded again.

    Raises:
        ContentError: not plain JSON, or larger than 1 MB encoded.
    """
    try:
        text = json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ContentError(f"metadata is not plain JSON: {exc}") from None
    if len(text) > MAX_METADATA_CHARS:
        raise ContentError("metadata is larger than 1 MB", too_large=True)
    return dict(metadata)
