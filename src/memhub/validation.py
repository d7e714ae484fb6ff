"""The request rules: what every request must satisfy before any work is queued for it.

This is the one place the daemon validates input (sizes, tags, types, metadata, filter texts),
so a bad request fails fast with a clear ``bad_request`` or ``too_large`` and nothing is
written; the rules themselves live in :mod:`memhub.domain`, shared with the bridge.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memhub.domain.content import ContentError, check_content, check_metadata
from memhub.domain.ontology import canonical_memory_type, custom_types_from_env
from memhub.domain.stores import ALL_STORES, store_name_problem, write_store_problem
from memhub.domain.tags import filter_text_problem, normalize_tags
from memhub.errors import BadRequest, ServiceError, TooLarge
from memhub.protocol.limits import metadata_problem

if TYPE_CHECKING:
    from memhub.config import Settings


class RequestRules:
    """The limits of one daemon's settings, applied to the fields of requests."""

    def __init__(self, settings: Settings) -> None:
        self._max_tags = settings.max_tags
        self._max_content_chars = settings.max_content_chars
        self._custom_types = custom_types_from_env(
            {"MCP_CUSTOM_MEMORY_TYPES": settings.custom_memory_types}
            if settings.custom_memory_types
            else {}
        )

    def tags(self, raw: list[str]) -> list[str]:
        if len(raw) > self._max_tags:
            raise TooLarge(f"too many tags: {len(raw)} (at most {self._max_tags})")
        for tag in raw:
            self.pattern("a tag", tag)
        try:
            return normalize_tags(raw)
        except ValueError as exc:
            raise BadRequest(f"invalid tags: {exc}") from None

    def content(self, content: str) -> str:
        try:
            return check_content(content, self._max_content_chars)
        except ContentError as exc:
            raise _content_failure(exc) from None

    @staticmethod
    def metadata(metadata: dict[str, Any]) -> dict[str, Any]:
        # The limits every reply can encode (checked first: json.dumps recurses).
        if (problem := metadata_problem(metadata)) is not None:
            raise BadRequest(f"metadata is not accepted: {problem}")
        try:
            return check_metadata(metadata)
        except ContentError as exc:
            raise _content_failure(exc) from None

    def memory_type(self, requested: str | None) -> tuple[str, str | None]:
        """The canonical type, and a warning when the requested one was mapped."""
        if requested is not None:
            self.pattern("memory_type", requested)
        return canonical_memory_type(requested, custom=self._custom_types)

    @staticmethod
    def pattern(name: str, text: str) -> str:
        """``text`` if it may be used to match rows (a filter or an exact query)."""
        problem = filter_text_problem(text)
        if problem is not None:
            raise BadRequest(f"{name} cannot be used: {problem}")
        return text

    @staticmethod
    def write_store(name: str) -> str:
        """The store a write goes to (``all`` is refused: it names no single store)."""
        problem = write_store_problem(name)
        if problem is not None:
            raise BadRequest(f"invalid store {name!r}: {problem}")
        return name

    @staticmethod
    def read_store(name: str) -> str | None:
        """The store a read looks in; None for every store (``all``)."""
        if name == ALL_STORES:
            return None
        problem = store_name_problem(name)
        if problem is not None:
            raise BadRequest(f"invalid store {name!r}: {problem}")
        return name

    @staticmethod
    def limit(value: int, upper: int = 1000) -> int:
        if not 1 <= value <= upper:
            raise BadRequest(f"limit must be between 1 and {upper}")
        return value


def _content_failure(exc: ContentError) -> ServiceError:
    return TooLarge(str(exc)) if exc.too_large else BadRequest(str(exc))
