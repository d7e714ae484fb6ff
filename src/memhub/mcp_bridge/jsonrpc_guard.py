"""Answer malformed JSON-RPC lines that the MCP SDK would drop without a word.

The SDK's stdio transport validates each line against the MCP message schema; a line that
fails (not JSON, ``"jsonrpc": "1.0"``, ``params`` that is not an object, …) becomes an exception
the server logs and forgets. JSON-RPC 2.0 requires an answer: ``-32700`` for unparseable JSON
(with ``id: null``) and ``-32600`` for an invalid request. A client that sent a request with an
id and gets nothing back waits until its own time-out, so the bridge answers for the SDK.

The stdin the SDK reads is a text file that remembers the last line it handed out. The SDK's
reader hands the failure on through an unbuffered stream and reads nothing more until it was
taken, so the line behind a failure is the last one read when the failure arrives.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import AsyncIterable
from typing import Any, Final, Protocol

import mcp_types as types
from anyio.streams.memory import MemoryObjectSendStream
from mcp.shared.message import SessionMessage

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600


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
        return line


def error_for(line: str) -> types.JSONRPCError | None:
    """The error a line the SDK refused deserves, or None where JSON-RPC wants silence."""
    try:
        message: Any = json.loads(line)
    except ValueError as exc:
        return _error(None, PARSE_ERROR, f"Parse error: {exc}")
    if not isinstance(message, dict):
        return _error(None, INVALID_REQUEST, "Invalid Request: expected one JSON-RPC object")
    raw_id = message.get("id")
    valid_id = isinstance(raw_id, str) or (isinstance(raw_id, int) and not isinstance(raw_id, bool))
    if not valid_id or "method" not in message:
        # A notification or a response: nobody is waiting for an answer to it.
        return None
    return _error(raw_id, INVALID_REQUEST, f"Invalid Request: {_why(message)}")


def _why(message: dict[str, Any]) -> str:
    if message.get("jsonrpc") != "2.0":
        return 'jsonrpc must be "2.0"'
    if not isinstance(message.get("method"), str):
        return "method must be a string"
    if "params" in message and not isinstance(message["params"], dict):
        return "params must be an object"
    return "the message does not match the MCP schema"


def _error(request_id: str | int | None, code: int, message: str) -> types.JSONRPCError:
    return types.JSONRPCError(
        jsonrpc="2.0", id=request_id, error=types.ErrorData(code=code, message=message)
    )


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
                error = error_for(stdin.last_line)
                if error is not None:
                    await to_client.send(SessionMessage(error))
                continue
            await to_server.send(item)
