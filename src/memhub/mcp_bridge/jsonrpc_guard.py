"""Answer the JSON-RPC lines that the MCP SDK would drop without a word.

The SDK's stdio transport validates each line against the MCP message schema; a line that
fails (not JSON, ``"jsonrpc": "1.0"``, ``params`` that is not an object, a batch, …) becomes an
exception the server logs and forgets. JSON-RPC 2.0 §5 requires an answer: ``-32700`` for
unparseable JSON and ``-32600`` for an invalid request, with ``id: null`` where the id cannot be
read; an empty batch gets one error, a batch of invalid requests an array of them. A client that
sent a request with an id and gets nothing back waits until its own time-out, so the bridge
answers for the SDK. Responses and well-formed notifications are never answered (§4.1, §5).

MCP 2025-06-18 removed JSON-RPC batching and the SDK never executes a batch, so a request inside
a batch is answered with an error naming that, under its own id.

Two kinds of line never reach the SDK's parser; it is handed a stand-in line it refuses, and the
refusal is answered from the real one:

* a line nesting deeper than :data:`~memhub.protocol.jsondepth.MAX_JSON_DEPTH`, measured before
  any parser recurses into it (:mod:`memhub.protocol.jsondepth`). It is refused with ``-32600``
  naming the limit, and the request's id if the line's outline shows one;
* a request whose ``id`` is not a string or an integer (``true``, ``1.5``, an object): the SDK
  would read it as a notification and drop it, so the client would never hear back.

The stdin the SDK reads is a text file that remembers the last line it handed out. The SDK's
reader hands the failure on through an unbuffered stream and reads nothing more until it was
taken, so the line behind a failure is the last one read when the failure arrives.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import AsyncIterable
from typing import Any, Final, Protocol, cast

import mcp_types as types
import pydantic
from anyio.streams.memory import MemoryObjectSendStream
from mcp.shared.message import SessionMessage

from memhub.protocol.jsondepth import MAX_JSON_DEPTH, TooDeep, check_json_depth, outline

log = logging.getLogger(__name__)

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
#: What the SDK is handed instead of a line nesting too deep: it refuses it without recursing.
STAND_IN_LINE: Final = "null\n"
#: Largest too-deep line whose outline is read for its id (the outline loop runs in Python).
OUTLINE_MAX_BYTES: Final = 1024 * 1024

Answer = types.JSONRPCError | list[types.JSONRPCError]


class MessageSink(Protocol):
    """Where the SDK's stdio transport takes messages to write to stdout."""

    async def send(self, item: SessionMessage, /) -> None: ...


class RememberingStdin(io.TextIOWrapper):
    """A private text view of fd 0 whose ``last_line`` is the line most recently read."""

    last_line: str = ""

    def __init__(self) -> None:
        # A duplicate of fd 0: closing this wrapper (or collecting it) never closes sys.stdin.
        super().__init__(os.fdopen(os.dup(0), "rb"), encoding="utf-8", errors="replace")

    # typeshed types TextIOWrapper.readline through _IOBase's bytes signature; this is the text one.
    def readline(self, size: int = -1, /) -> str:  # type: ignore[override]
        line = super().readline(size)
        self.last_line = line
        # A line the SDK must not see gets answered by error_for(last_line) once it refused this.
        return line if fit_for_sdk(line) else STAND_IN_LINE


def fit_for_sdk(line: str) -> bool:
    """Whether the SDK may parse ``line``: not too deep, and no id it would silently drop."""
    try:
        check_json_depth(line)
    except TooDeep:
        return False
    try:
        message: Any = json.loads(line)
    except ValueError:
        return True  # the SDK refuses it as well, and error_for answers
    return not (isinstance(message, dict) and "id" in message and not _valid_id(message["id"]))


class _Batch(pydantic.RootModel[list[types.JSONRPCError]]):
    """The array answer to a batch; written by the SDK like any message (one line)."""


def error_for(line: str) -> Answer | None:
    """The answer a line the SDK refused deserves, or None where JSON-RPC wants silence."""
    try:
        check_json_depth(line)
    except TooDeep as exc:
        return _too_deep(line, exc)
    try:
        message: Any = json.loads(line)
    except ValueError as exc:
        return _error(None, PARSE_ERROR, f"Parse error: {exc}")
    if not isinstance(message, list):
        return _judge(message, in_batch=False)
    if not message:
        return _error(None, INVALID_REQUEST, "Invalid Request: an empty batch")
    answers = [a for a in (_judge(item, in_batch=True) for item in message) if a is not None]
    return answers or None


def _judge(message: object, *, in_batch: bool) -> types.JSONRPCError | None:
    """The error one message deserves (alone or inside a batch), or None for silence."""
    if not isinstance(message, dict):
        return _error(None, INVALID_REQUEST, "Invalid Request: expected a JSON-RPC object")
    if "method" not in message and "id" in message and ("result" in message or "error" in message):
        return None  # a response (to nothing we asked): never answered
    request_id = message.get("id")
    readable_id = request_id if _valid_id(request_id) else None
    why = _why(message)
    if why is None and "id" not in message:
        # A well-formed notification: JSON-RPC forbids answering it, even in a batch.
        log.warning("dropped a notification the bridge cannot take: %.200s", message.get("method"))
        return None
    if why is None:
        why = (
            "JSON-RPC batches are not supported (MCP 2025-06-18 removed them); send one "
            "message per line"
            if in_batch
            else "the message does not match the MCP schema"
        )
    return _error(readable_id, INVALID_REQUEST, f"Invalid Request: {why}")


def _valid_id(value: object) -> bool:
    # MCP ids are strings or integers (JSON-RPC allows fractions too; MCP does not, nor null).
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _why(message: dict[str, Any]) -> str | None:
    if message.get("jsonrpc") != "2.0":
        return 'jsonrpc must be "2.0"'
    if "id" in message and not _valid_id(message["id"]):
        return "id must be a string or an integer"
    if "method" not in message:
        return "method is missing"
    if not isinstance(message["method"], str):
        return "method must be a string"
    if "params" in message and not isinstance(message["params"], dict):
        return "params must be an object"
    return None


def _too_deep(line: str, exc: TooDeep) -> types.JSONRPCError | None:
    """The refusal of a line nesting too deep, naming the request if its outline shows one."""
    why = f"Invalid Request: the message nests deeper than {MAX_JSON_DEPTH} levels (the limit)"
    shown = outline(line, max_bytes=OUTLINE_MAX_BYTES)
    try:
        top: Any = json.loads(shown) if shown is not None else None
    except ValueError:
        top = None  # malformed as well as too deep: nothing can be said about its id
    if isinstance(top, dict):
        if "method" not in top and "id" in top and ("result" in top or "error" in top):
            return None  # a response
        if "id" not in top and isinstance(top.get("method"), str):
            log.warning("dropped a notification nesting too deep (%s)", exc)
            return None
        request_id = top.get("id")
        return _error(request_id if _valid_id(request_id) else None, INVALID_REQUEST, why)
    return _error(None, INVALID_REQUEST, why)


def _error(request_id: str | int | None, code: int, message: str) -> types.JSONRPCError:
    return types.JSONRPCError(
        jsonrpc="2.0", id=request_id, error=types.ErrorData(code=code, message=message)
    )


def _message(answer: Answer) -> SessionMessage:
    if isinstance(answer, list):
        # The SDK writes ``message.model_dump_json(...)`` as one line, which a RootModel of the
        # errors does as the JSON array §6 asks for; the SDK has no batch type of its own.
        return SessionMessage(cast("types.JSONRPCMessage", _Batch(answer)))
    return SessionMessage(answer)


async def screen(
    incoming: AsyncIterable[SessionMessage | Exception],
    to_server: MemoryObjectSendStream[SessionMessage | Exception],
    to_client: MessageSink,
    stdin: RememberingStdin,
) -> None:
    """Pass messages on to the server; answer the refused lines that deserve an answer."""
    async with to_server:
        async for item in incoming:
            if isinstance(item, Exception):
                # No await before this read: the SDK reads the next line only after this one.
                answer = error_for(stdin.last_line)
                if answer is not None:
                    await to_client.send(_message(answer))
                continue
            await to_server.send(item)
