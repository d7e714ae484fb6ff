"""Bad input at the HTTP endpoint of a real daemon: each gets a clear status and body, nothing is
written, and the daemon stays healthy for the clients that behave."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from memhub.http.auth import KEY_IN_QUERY, NEEDS_KEY, NOTHING_CONFIGURED
from tests.daemon.helpers import db_state
from tests.http.helpers import HttpDaemon, http_daemon, store

ROUTES = [
    ("GET", "/api/health/detailed"),
    ("POST", "/api/memories"),
    ("GET", "/api/memories"),
    ("GET", f"/api/memories/{'a' * 64}"),
    ("PUT", f"/api/memories/{'a' * 64}"),
    ("DELETE", f"/api/memories/{'a' * 64}"),
    ("POST", "/api/search"),
    ("POST", "/api/search/by-tag"),
    ("POST", "/api/search/by-time"),
    ("GET", f"/api/search/similar/{'a' * 64}"),
    ("GET", "/api/tags"),
    ("GET", "/api/types"),
    ("POST", "/api/harvest"),
    ("POST", f"/api/quality/memories/{'a' * 64}/evaluate"),
    ("GET", "/api/quality/distribution"),
    ("GET", "/api/quality/trends"),
    ("POST", "/mcp"),
]
BODY = {"content": "must not be stored", "query": "q", "tags": ["t"]}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bad") / "db.sqlite"


@pytest.fixture(scope="module")
def daemon(db: Path) -> Iterator[HttpDaemon]:
    with http_daemon(
        db, {"MEMHUB_HTTP_BODY_TIMEOUT": "1", "MCP_HTTP_MAX_BODY_BYTES": "65536"}
    ) as d:
        yield d
    # Whatever was thrown at it, nothing reached the store but the well-behaved client's work.
    assert set(db_state(db).active) <= set(WELL_BEHAVED)


WELL_BEHAVED: list[str] = []


def _mcp_headers() -> dict[str, str]:
    return {"Accept": "application/json, text/event-stream"}


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_no_key_is_401_naming_what_to_send(daemon: HttpDaemon, method: str, path: str) -> None:
    with daemon.client(key=None) as c:
        reply = c.request(method, path, json=BODY, headers=_mcp_headers())
    assert reply.status_code == 401
    assert reply.json() == {
        "detail": {"error": "authorization_required", "error_description": NEEDS_KEY}
    }
    assert reply.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_wrong_key_is_401(daemon: HttpDaemon, method: str, path: str) -> None:
    with daemon.client(key="wrong") as c:
        bearer = c.request(method, path, json=BODY, headers=_mcp_headers())
    assert bearer.status_code == 401
    assert bearer.json()["detail"]["error"] == "invalid_token"
    with daemon.client(key=None, headers={"X-API-Key": "wrong"}) as c:
        header = c.request(method, path, json=BODY, headers=_mcp_headers())
    assert header.status_code == 401
    assert header.json()["detail"]["error"] == "authorization_required"


@pytest.mark.parametrize("path", ["/api/memories", "/api/health", "/mcp"])
def test_a_key_in_the_query_is_refused_even_when_right(daemon: HttpDaemon, path: str) -> None:
    with daemon.client(key=None) as c:
        reply = c.get(path, params={"api_key": daemon.key}, headers=_mcp_headers())
    assert reply.status_code == 401
    assert reply.json()["detail"] == {"error": "invalid_request", "error_description": KEY_IN_QUERY}


@pytest.mark.parametrize("path", ["/api/memories", "/mcp"])
def test_foreign_origin_and_host_are_refused(daemon: HttpDaemon, path: str) -> None:
    with daemon.client() as c:
        origin = c.post(
            path, json=BODY, headers={"Origin": "http://evil.example", **_mcp_headers()}
        )
        host = c.post(path, json=BODY, headers={"Host": "evil.example", **_mcp_headers()})
        own = c.get("/api/memories", headers={"Origin": daemon.url})
    assert origin.status_code == 403
    assert "http://evil.example" in origin.json()["detail"]
    assert host.status_code == 421
    assert "DNS rebinding" in host.json()["detail"]
    assert own.status_code == 200


def test_bodies_over_the_limit_are_413_and_never_reach_the_route(daemon: HttpDaemon) -> None:
    big = json.dumps({"content": "x" * 70_000}).encode()
    expected = {
        "error": "payload_too_large",
        "error_description": "Request body exceeds the maximum of 65536 bytes",
    }
    with daemon.client() as c:
        declared = c.post(
            "/api/memories", content=big, headers={"content-type": "application/json"}
        )

        def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
            for start in range(0, len(big), 8192):
                yield big[start : start + 8192]

        chunked = c.post(
            "/api/memories", content=chunks(), headers={"content-type": "application/json"}
        )
        mcp = c.post(
            "/mcp", content=big, headers={"content-type": "application/json", **_mcp_headers()}
        )
    for reply in (declared, chunked, mcp):
        assert reply.status_code == 413
        assert reply.json() == expected


def test_invalid_json_wrong_types_and_deep_nesting_are_422(daemon: HttpDaemon) -> None:
    deep = "[" * 200 + "]" * 200
    with daemon.client() as c:
        broken = c.post(
            "/api/memories", content=b"{nope", headers={"content-type": "application/json"}
        )
        typed = c.post("/api/memories", json={"content": 5, "tags": "x"})
        empty = c.post("/api/memories", json={"content": ""})
        ranged = c.get("/api/memories", params={"page": 0})
        nested = c.post(
            "/api/memories",
            content=f'{{"content": "x", "metadata": {{"a": {deep}}}}}',
            headers={"content-type": "application/json"},
        )
        deep_mcp = c.post(
            "/mcp", content=deep, headers={"content-type": "application/json", **_mcp_headers()}
        )
    assert broken.status_code == 422
    assert broken.json()["detail"][0]["type"] == "json_invalid"
    assert typed.status_code == 422
    assert [e["type"] for e in typed.json()["detail"]] == ["string_type", "list_type"]
    assert empty.status_code == 422
    assert empty.json()["detail"][0]["type"] == "string_too_short"
    assert ranged.status_code == 422
    assert ranged.json()["detail"][0]["loc"] == ["query", "page"]
    assert nested.status_code == 422
    assert "deeper than" in nested.json()["detail"][0]["ctx"]["error"]
    assert deep_mcp.status_code == 400
    assert deep_mcp.json()["error"]["code"] == -32700


def test_unknown_routes_and_methods(daemon: HttpDaemon) -> None:
    with daemon.client() as c:
        unknown = c.get("/api/nothing-here")
        method = c.patch("/api/memories")
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "Not Found"})
    assert (method.status_code, method.json()) == (405, {"detail": "Method Not Allowed"})


def _open(daemon: HttpDaemon) -> socket.socket:
    port = int(daemon.url.rsplit(":", 1)[1])
    return socket.create_connection(("127.0.0.1", port), timeout=15)


def _read_to_close(sock: socket.socket) -> bytes:
    parts = []
    while chunk := sock.recv(65536):
        parts.append(chunk)
    return b"".join(parts)


def test_a_body_trickling_in_is_cut_off_and_not_stored(daemon: HttpDaemon) -> None:
    payload = json.dumps({"content": "trickled and never stored"}).encode()
    port = daemon.url.rsplit(":", 1)[1]
    head = (
        f"POST /api/memories HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {daemon.key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode()
    with _open(daemon) as sock:
        sock.sendall(head + payload[:5])  # then nothing: the body never completes
        began = time.monotonic()
        answer = _read_to_close(sock)
    assert answer.startswith(b"HTTP/1.1 408")
    assert b"did not arrive within 1 s" in answer
    assert time.monotonic() - began < 10


def test_hundreds_of_idle_connections_do_not_starve_a_client(daemon: HttpDaemon) -> None:
    port = daemon.url.rsplit(":", 1)[1]
    idle = [_open(daemon) for _ in range(300)]
    try:
        for sock in idle[::2]:  # half send a partial request line, half nothing
            sock.sendall(f"GET /api/memories HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())
        took = []
        with daemon.client() as c:
            for i in range(20):
                began = time.monotonic()
                h = store(c, f"served while 300 sockets idle {i}")["content_hash"]
                WELL_BEHAVED.append(h)
                found = c.post("/api/search", json={"query": f"served while idle {i}"})
                assert found.status_code == 200
                took.append(time.monotonic() - began)
        assert max(took) < 2.0, took
        # The daemon closes what stays idle (keep-alive timeout 5 s), partial requests too.
        for sock in idle:
            sock.settimeout(15)
            assert sock.recv(65536) == b""
    finally:
        for sock in idle:
            sock.close()
    with daemon.client() as c:
        assert c.get("/api/health/detailed").json()["status"] == "healthy"


def test_no_key_and_no_anonymous_refuses_everything_but_health(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    with http_daemon(db, {"MCP_API_KEY": ""}) as d:
        with d.client(key=None) as c:
            health = c.get("/api/health")
            refused = [c.request(m, p, json=BODY, headers=_mcp_headers()) for m, p in ROUTES]
        with d.client(key="anything") as c:
            guessed = c.post("/api/memories", json=BODY)
    assert health.status_code == 200
    for reply in refused:
        assert reply.status_code == 401
        assert reply.json()["detail"]["error_description"] == NOTHING_CONFIGURED
    assert "MCP_API_KEY" in NOTHING_CONFIGURED
    assert "MCP_ALLOW_ANONYMOUS_ACCESS=true" in NOTHING_CONFIGURED
    assert guessed.status_code == 401
    assert db_state(db).active == {}


def test_anonymous_read_scope_cannot_write(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    env = {"MCP_API_KEY": "", "MCP_ALLOW_ANONYMOUS_ACCESS": "true", "MCP_ANONYMOUS_SCOPE": "read"}
    with http_daemon(db, env) as d, d.client(key=None) as c:
        listed = c.get("/api/memories")
        write = c.post("/api/memories", json={"content": "anonymous write"})
    assert listed.status_code == 200
    assert write.status_code == 403
    assert write.json() == {
        "detail": {
            "error": "insufficient_scope",
            "error_description": "Required scope 'write' not granted",
        }
    }
    assert db_state(db).active == {}
