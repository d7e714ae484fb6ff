"""Checking a connection's ``hello``: the token, the protocol, and what a newer client sends."""

from __future__ import annotations

from typing import Any, Final

import attrs
import orjson

from memhub import PROTOCOL_VERSION
from memhub.credentials import Admitted, Credentials
from memhub.errors import BadRequest, ErrorCode
from memhub.protocol import messages as m
from memhub.protocol.codec import decode_client
from memhub.protocol.jsondepth import TooDeep, check_json_depth
from memhub.protocol.versions import OLDEST_PROTOCOL
from memhub.transport.frames import bad_frame, fail

CLOSE_POLICY: Final = 1008  # RFC 6455 "policy violation": bad hello, wrong protocol
CLOSE_UNAUTHORIZED: Final = 4401  # private-use range; mirrors HTTP 401
_HELLO_FIELDS: Final = frozenset({"type", *(field.name for field in attrs.fields(m.Hello))})


def _mismatch(
    request_id: int | None, protocol: object, unknown_fields: list[str]
) -> tuple[m.Failed, int]:
    if unknown_fields:
        message = (
            f"this daemon speaks memhub protocol {PROTOCOL_VERSION} and does not know the hello "
            f"fields {', '.join(unknown_fields)}: the client is newer; upgrade the daemon"
        )
    else:
        message = (
            f"this daemon speaks memhub protocols {OLDEST_PROTOCOL} to {PROTOCOL_VERSION}, the "
            f"client {protocol!r}; upgrade the older side"
        )
    detail = {
        "server_protocol": PROTOCOL_VERSION,
        "client_protocol": protocol,
        "unknown_fields": unknown_fields,
    }
    return fail(request_id, ErrorCode.PROTOCOL_MISMATCH, message, detail), CLOSE_POLICY


def _newer_hello(raw: str | bytes, exc: BadRequest) -> tuple[m.Failed, int] | None:
    """``protocol_mismatch`` for a hello this daemon cannot decode because it is newer.

    A newer client may send another protocol number (of any JSON type) or fields this daemon
    does not know; either way the answer must say "versions differ", not "bad request".
    """
    try:
        check_json_depth(raw)
        obj: Any = orjson.loads(raw)
    except (TooDeep, orjson.JSONDecodeError):
        return None
    if not isinstance(obj, dict) or obj.get("type") != "hello":
        return None
    unknown = sorted(str(key) for key in obj if key not in _HELLO_FIELDS)
    protocol = obj.get("protocol")
    other_protocol = "protocol" in obj and (
        type(protocol) is not int or not OLDEST_PROTOCOL <= protocol <= PROTOCOL_VERSION
    )
    if not unknown and not other_protocol:
        return None
    return _mismatch(exc.request_id, protocol, unknown)


def check_hello(
    raw: str | bytes, credentials: Credentials
) -> tuple[m.Hello, Admitted] | tuple[m.Failed, int]:
    """The hello in ``raw`` and what its token admits, or the reply and close code refusing it."""
    try:
        hello = decode_client(raw)
    except BadRequest as exc:
        return _newer_hello(raw, exc) or (bad_frame(exc), CLOSE_POLICY)
    if not isinstance(hello, m.Hello):
        message = f"the first message must be a hello, not {type(hello).__name__}"
        return fail(hello.id, ErrorCode.BAD_REQUEST, message), CLOSE_POLICY
    if not OLDEST_PROTOCOL <= hello.protocol <= PROTOCOL_VERSION:
        return _mismatch(hello.id, hello.protocol, [])
    admitted = credentials.admit(hello.token)
    if not isinstance(admitted, Admitted):
        return fail(hello.id, ErrorCode.UNAUTHORIZED, admitted.message), CLOSE_UNAUTHORIZED
    return hello, admitted
