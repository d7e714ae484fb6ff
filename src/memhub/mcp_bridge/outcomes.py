"""When a tool result carries ``isError``: the rule, in one place.

mcp-memory-service's two generations disagree. v10.59 never sets ``isError`` on a handler's
answer: a duplicate, an unknown hash, a refused argument all come back as ``Error…`` text.
12.x raises for a failed write (a duplicate store, empty content, #1601), so its SDK flags
those, while not-found, unknown tools and refused filters stay ordinary text. Clients such as
FastMCP raise on ``isError``, so agent code written against either generation breaks when
memhub flags an answer its upstream returned as an ordinary result.

memhub therefore flags an answer only when **both** generations flag it, or when upstream
cannot produce it at all:

* the SDK's input validation (``Input validation error: …``), which both generations run
  before the handler, for a missing required argument or one memhub cannot coerce either;
* the daemon being unreachable, overloaded, shutting down, or failing inside (a database or
  embedder error, a bug of ours).

Everything else the handlers report (duplicates, not found, unknown tools, unsupported
extras, refused filters) is an ordinary result with upstream's ``Error…`` wording.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from memhub.errors import (
    DatabaseBusy,
    DatabaseError,
    EmbedderMismatch,
    InternalError,
    Overloaded,
    QueryTimeout,
    ServiceError,
    ShuttingDown,
    Unavailable,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

INFRASTRUCTURE_FAILURES: Final = (
    Unavailable,
    Overloaded,
    ShuttingDown,
    QueryTimeout,
    DatabaseBusy,
    DatabaseError,
    EmbedderMismatch,
    InternalError,
)
"""Failures of memhub's own machinery: upstream has no such answer, so they stay flagged."""


def is_infrastructure_failure(exc: ServiceError) -> bool:
    """True for a failure no upstream answer corresponds to (always flagged)."""
    return isinstance(exc, INFRASTRUCTURE_FAILURES) or type(exc) is ServiceError


def schema_violation(schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> tuple[str, bool]:
    """The SDK's ``Input validation error: …`` text for ``arguments``, or ``""`` if valid.

    The second item is True when the violation is a missing required property: no leniency
    can repair that, so the caller answers at once, as upstream's SDK does. Other violations
    (a number sent as a string, a CSV where an array was declared) are first given to the
    lenient handler; the text is used only if the handler refuses the value too.
    """
    import jsonschema  # the SDK's own dependency; imported here to keep the bridge light

    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(dict(schema)).iter_errors(dict(arguments))
    )
    if error is None:
        return "", False
    return f"Input validation error: {error.message}", error.validator == "required"
