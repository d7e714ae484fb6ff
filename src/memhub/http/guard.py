"""The outermost ASGI layer: what every HTTP request must pass before any route sees it.

* ``Host`` must name this daemon (DNS rebinding: a page on another site that rebinds its name to
  127.0.0.1 still sends its own name), the rule of the web UI's listener;
* ``Origin``, when a browser sends one, must be the daemon's own or one listed in
  ``MEMHUB_ALLOW_ORIGIN`` (the MCP spec's rule for Streamable HTTP, applied to REST too: no
  client of these routes runs in a page on another site);
* the body is read completely, up to ``MCP_HTTP_MAX_BODY_BYTES``, *before* the application
  runs. Upstream's middleware let an over-limit chunked body through to the route (the memory
  was stored, then the client got 413); here an over-limit body is answered 413 and the route
  never runs;
* the whole body must arrive within ``MEMHUB_HTTP_BODY_TIMEOUT`` (30 s; a client trickling it is cut
  off with 408);
* a JSON body may nest at most ``memhub.protocol.jsondepth.MAX_JSON_DEPTH`` (128) levels, measured
  before any parser runs (Python's ``json`` recurses, so a deep body would otherwise cost a
  ``RecursionError`` deep inside a framework).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
import trio

from memhub.protocol.jsondepth import MAX_JSON_DEPTH, json_depth
from memhub.transport.http import allowed_hosts

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]


def json_response(status: int, body: object, headers: dict[str, str] | None = None) -> Any:
    """A tiny ASGI app answering ``body`` as JSON (and closing the connection: the request's
    body may be unread, which would corrupt the next request on a kept-alive connection)."""
    payload = orjson.dumps(body)
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"),
    ]
    raw.extend((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": payload})

    return app


def too_large(limit: int) -> Any:
    # Upstream's body and status (web/body_limit.py).
    return json_response(
        413,
        {
            "error": "payload_too_large",
            "error_description": f"Request body exceeds the maximum of {limit} bytes",
        },
    )


def too_deep(path: str) -> Any:
    message = f"JSON nests deeper than {MAX_JSON_DEPTH} levels"
    if path.startswith("/mcp"):
        error = {"code": -32700, "message": f"Parse error: {message}"}
        return json_response(400, {"jsonrpc": "2.0", "id": None, "error": error})
    detail = [
        {
            "type": "json_invalid",
            "loc": ["body", 0],
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": message},
        }
    ]
    return json_response(422, {"detail": detail})


class Guard:
    """Host, Origin, body size and JSON depth checks in front of ``app``."""

    def __init__(
        self,
        app: Any,
        *,
        bind_host: str,
        extra_origins: tuple[str, ...],
        max_body: int,
        body_deadline_s: float,
    ) -> None:
        self.app = app
        self.body_deadline_s = body_deadline_s
        self.bind_host = bind_host
        self.extra_origins = frozenset(o.lower().rstrip("/") for o in extra_origins)
        self.max_body = max_body
        self._names: dict[int, tuple[frozenset[str], frozenset[str]]] = {}

    def allowed(self, port: int) -> tuple[frozenset[str], frozenset[str]]:
        """The ``Host`` values and origins that name this endpoint on ``port``.

        Taken from the port the request actually arrived on (the ASGI ``server``), so a
        listener on port 0 needs no second step once it knows its port.
        """
        names = self._names.get(port)
        if names is None:
            hosts = allowed_hosts(port, self.bind_host)
            origins = frozenset(f"http://{h}" for h in hosts) | self.extra_origins
            names = self._names[port] = (hosts, origins)
        return names

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # lifespan
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        server = scope.get("server") or ("", 0)
        refusal = self._refusal(headers, *self.allowed(int(server[1] or 0)))
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        body = await self._read_body(headers, receive)
        if not isinstance(body, bytes):
            if body is not None:
                await body(scope, receive, send)
            return
        if body and _json_type(headers) and _deeper_than(body, MAX_JSON_DEPTH):
            await too_deep(scope["path"])(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    @staticmethod
    def _refusal(headers: dict[str, str], hosts: frozenset[str], origins: frozenset[str]) -> Any:
        host = headers.get("host", "").lower()
        if host not in hosts:
            detail = (
                "memhub: this Host may not connect (DNS rebinding protection); "
                "use http://127.0.0.1:PORT"
            )
            return json_response(421, {"detail": detail})
        origin = headers.get("origin")
        if origin is not None and origin.lower().rstrip("/") not in origins:
            detail = (
                f"memhub: requests from the origin {origin!r} are refused; list it in "
                "MEMHUB_ALLOW_ORIGIN to allow it"
            )
            return json_response(403, {"detail": detail})
        return None

    async def _read_body(self, headers: dict[str, str], receive: Any) -> bytes | Any:
        """The whole body, an app answering 413, or None when the client went away."""
        declared = headers.get("content-length")
        if declared is not None:
            try:
                if int(declared) > self.max_body:
                    return too_large(self.max_body)
            except ValueError:
                return json_response(400, {"detail": "invalid Content-Length"})
        chunks: list[bytes] = []
        size = 0
        # A body trickled in byte by byte must not hold a connection (and its memory) for
        # ever: hypercorn times out idle connections, not slow ones.
        with trio.move_on_after(self.body_deadline_s):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return None
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_body:
                    return too_large(self.max_body)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
        detail = f"the request body did not arrive within {self.body_deadline_s:g} s"
        return json_response(408, {"detail": detail})


def _json_type(headers: dict[str, str]) -> bool:
    return "json" in headers.get("content-type", "").lower()


def _deeper_than(body: bytes, limit: int) -> bool:
    # Measured without parsing (memhub.protocol.jsondepth: a linear scan that recurses
    # nowhere); the metadata's own, smaller limit is then checked by the service, precisely.
    return json_depth(body, limit) > limit


def _replay(body: bytes, receive: Any) -> Any:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        # Later reads wait for the disconnect (streaming responses watch for it).
        message: Message = await receive()
        return message

    return replay
