"""Error codes and the exception hierarchy shared by the daemon, its clients and the bridge.

Every failure that crosses the wire is a :class:`ServiceError` subclass with a stable
:class:`ErrorCode`. Only the transport's dispatcher turns one into a ``Failed`` reply, and only
the client turns a ``Failed`` reply back into the matching exception, so the code on both sides
speaks exceptions and the wire speaks codes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar


class ErrorCode(StrEnum):
    """Stable error codes. Values are part of the wire protocol: never rename one."""

    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    PROTOCOL_MISMATCH = "protocol_mismatch"
    NOT_FOUND = "not_found"
    DUPLICATE = "duplicate"
    TOO_LARGE = "too_large"
    OVERLOADED = "overloaded"
    TIMEOUT = "timeout"
    SHUTTING_DOWN = "shutting_down"
    DATABASE_BUSY = "database_busy"
    DATABASE_ERROR = "database_error"
    EMBEDDER_MISMATCH = "embedder_mismatch"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class MemhubError(Exception):
    """Base of every error memhub raises on purpose."""


class ServiceError(MemhubError):
    """An error with a stable code that can travel over the wire.

    Attributes:
        detail: optional JSON-able data for programs (for example the hash a duplicate matched).
    """

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL

    def __init__(self, message: str, *, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    @staticmethod
    def from_code(
        code: ErrorCode, message: str, detail: dict[str, Any] | None = None
    ) -> ServiceError:
        """Rebuild the exception class that matches a wire error code."""
        cls = _BY_CODE.get(code, InternalError)
        return cls(message, detail=detail)


class BadRequest(ServiceError):
    """A request the daemon cannot read or accept.

    Attributes:
        request_id: the id of the frame it answers, when the frame was read far enough to
            know it (the error reply echoes it); None otherwise.
    """

    code = ErrorCode.BAD_REQUEST

    def __init__(
        self,
        message: str,
        *,
        detail: dict[str, Any] | None = None,
        request_id: int | None = None,
    ) -> None:
        super().__init__(message, detail=detail)
        self.request_id = request_id


class Unauthorized(ServiceError):
    code = ErrorCode.UNAUTHORIZED


class ProtocolMismatch(ServiceError):
    code = ErrorCode.PROTOCOL_MISMATCH


class NotFound(ServiceError):
    code = ErrorCode.NOT_FOUND


class Duplicate(ServiceError):
    code = ErrorCode.DUPLICATE


class TooLarge(ServiceError):
    code = ErrorCode.TOO_LARGE


class Overloaded(ServiceError):
    code = ErrorCode.OVERLOADED


class QueryTimeout(ServiceError):
    code = ErrorCode.TIMEOUT


class ShuttingDown(ServiceError):
    code = ErrorCode.SHUTTING_DOWN


class DatabaseBusy(ServiceError):
    code = ErrorCode.DATABASE_BUSY


class DatabaseError(ServiceError):
    code = ErrorCode.DATABASE_ERROR


class EmbedderMismatch(ServiceError):
    code = ErrorCode.EMBEDDER_MISMATCH


class Unavailable(ServiceError):
    code = ErrorCode.UNAVAILABLE


class InternalError(ServiceError):
    code = ErrorCode.INTERNAL


_BY_CODE: dict[ErrorCode, type[ServiceError]] = {
    cls.code: cls
    for cls in (
        BadRequest,
        Unauthorized,
        ProtocolMismatch,
        NotFound,
        Duplicate,
        TooLarge,
        Overloaded,
        QueryTimeout,
        ShuttingDown,
        DatabaseBusy,
        DatabaseError,
        EmbedderMismatch,
        Unavailable,
        InternalError,
    )
}


class StartupError(MemhubError):
    """The daemon cannot start. The message is one line naming the file and the fix."""
