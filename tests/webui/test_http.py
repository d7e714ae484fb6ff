"""The daemon's HTTP side without a browser: headers, Host and Origin checks, limits, tickets."""

from __future__ import annotations

import socket

import pytest
import trio
from trio_websocket import ConnectionRejected, open_websocket_url

from memhub import PROTOCOL_VERSION
from memhub.errors import Unauthorized
from memhub.protocol import messages as m
from memhub.transport.client import open_daemon_client

from .helpers import Daemon


def raw_request(port: int, head: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``head`` as is and read the whole response (the daemon closes after it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head_part, _, body = data.partition(b"\r\n\r\n")
    lines = head_part.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def get(
    port: int, path: str, host: str | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    host = f"127.0.0.1:{port}" if host is None else host
    return raw_request(port, f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())


def test_index_and_assets_carry_strict_headers(daemon: Daemon) -> None:
    status, headers, body = get(daemon.port, "/")
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["cache-control"] == "no-cache"
    csp = headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "'unsafe-inline'" not in csp
    assert "'unsafe-eval'" not in csp
    assert f"connect-src ws://127.0.0.1:{daemon.port} ws://localhost:{daemon.port};" in csp
    assert "default-src 'none'" in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert b"<script>" not in body  # no inline script: the CSP would block it anyway
    base = body.split(b'src="', 1)[1].split(b'/main.js"', 1)[0].decode()
    assert base.startswith("/assets/")
    status, headers, js = get(daemon.port, f"{base}/main.js")
    assert status == 200
    assert headers["content-type"] == "text/javascript; charset=utf-8"
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert b"import" in js
    status, headers, empty = get(daemon.port, f"{base}/app.css", method="HEAD")
    assert status == 200
    assert empty == b""
    assert int(headers["content-length"]) > 1000
    # Only packaged files exist: no path reaches the filesystem or the runtime file.
    for path in (
        f"/{daemon.db.name}.memhub.json",
        f"{base}/../../{daemon.db.name}.memhub.json",
        "/assets/0.0.0-000000000000/main.js",
        "/etc/passwd",
    ):
        assert get(daemon.port, path)[0] == 404, path
    assert daemon.token.encode() not in body + js


def test_foreign_host_is_refused_for_pages_and_websockets(daemon: Daemon) -> None:
    port = daemon.port
    for host in (f"evil.example:{port}", "127.0.0.1", f"127.0.0.1:{port + 1}", "", "localhost"):
        status, headers, _ = get(port, "/", host=host)
        assert status == 403, host
        assert headers["content-security-policy"].startswith("default-src 'none'")
    for host in (f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"):
        assert get(port, "/", host=host)[0] == 200, host
    assert raw_request(port, b"GET / HTTP/1.0\r\n\r\n")[0] == 403  # no Host at all
    upgrade = (
        f"GET / HTTP/1.1\r\nHost: rebind.example:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    assert raw_request(port, upgrade)[0] == 403


def test_foreign_origin_is_refused_at_the_handshake(daemon: Daemon) -> None:
    async def connect(origin: bytes) -> None:
        async with open_websocket_url(
            f"ws://127.0.0.1:{daemon.port}/", extra_headers=[(b"Origin", origin)]
        ) as ws:
            await ws.send_message("{}")

    with pytest.raises(ConnectionRejected) as refused:
        trio.run(connect, b"http://evil.example")
    assert refused.value.status_code == 403
    with pytest.raises(ConnectionRejected):
        trio.run(connect, f"http://127.0.0.1:{daemon.port + 1}".encode())


def test_other_methods_and_bad_heads_are_refused(daemon: Daemon) -> None:
    port = daemon.port
    status, headers, _ = get(port, "/", method="POST")
    assert status == 405
    assert headers["allow"] == "GET, HEAD"
    assert raw_request(port, b"NONSENSE\r\n\r\n")[0] == 400
    huge = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 20_000 + b"\r\n\r\n"
    assert raw_request(port, huge)[0] == 431


def test_tickets_need_the_master_token_and_work_once(daemon: Daemon) -> None:
    async def scenario() -> None:
        url = f"ws://127.0.0.1:{daemon.port}"
        async with open_daemon_client(url, daemon.token, client_name="ticket-test") as admin:
            ticket = await admin.call(m.IssueTicket(id=0))
        assert isinstance(ticket, m.Ticket)
        assert ticket.expires_in_s == 60
        async with open_daemon_client(url, ticket.ticket, client_name="tab") as tab:
            session = tab.welcome.session_token
            assert session is not None
            # A browser session cannot mint tickets for others.
            with pytest.raises(Unauthorized):
                await tab.call(m.IssueTicket(id=0))
        with pytest.raises(Unauthorized, match="run `memhub ui` again"):
            async with open_daemon_client(url, ticket.ticket):
                pass
        async with open_daemon_client(url, session, client_name="tab again") as again:
            assert again.welcome.session_token is None
            assert again.welcome.protocol == PROTOCOL_VERSION
        with pytest.raises(Unauthorized, match="wrong token"):
            async with open_daemon_client(url, "not-the-token"):
                pass

    trio.run(scenario)


def test_the_page_speaks_this_daemons_protocol() -> None:
    # The page is served by the daemon it talks to: it must speak the daemon's own version.
    from importlib.resources import files

    source = (files("memhub.webui") / "static" / "api.js").read_text()
    assert f"export const PROTOCOL = {PROTOCOL_VERSION};" in source
