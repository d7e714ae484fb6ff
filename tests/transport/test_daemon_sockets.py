"""A real daemon closes its side of every connection promptly, whatever the peer did.

Checked from outside with psutil: no socket of the daemon's port lingers in CLOSE_WAIT (the
peer closed, the daemon did not) or ESTABLISHED once the peers are gone.
"""

from __future__ import annotations

import socket
import time

import orjson
import psutil

from memhub.discovery import RuntimeInfo
from tests.daemon.helpers import running_daemon
from tests.transport import rawws

GONE_WITHIN_S = 6.0


def daemon_sockets(pid: int, port: int) -> list[str]:
    """States of the daemon's TCP connections on its websocket port (not the listener)."""
    return [
        c.status
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.laddr and c.laddr.port == port and c.status != psutil.CONN_LISTEN
    ]


def wait_until_no_sockets(pid: int, port: int) -> list[str]:
    deadline = time.monotonic() + GONE_WITHIN_S
    states = daemon_sockets(pid, port)
    while states and time.monotonic() < deadline:
        time.sleep(0.1)
        states = daemon_sockets(pid, port)
    return states


def raw_connection(info: RuntimeInfo, *, hello: bool) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", info.port), timeout=10)
    sock.sendall(rawws.upgrade_request(info.port))
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(4096)
    if hello:
        sock.sendall(rawws.hello_frame(info.token))
        while b"welcome" not in received:
            received += sock.recv(4096)
    return sock


def test_peers_that_drop_tcp_without_a_close_leave_no_socket_in_the_daemon(tmp_path):
    with running_daemon(tmp_path / "m.db") as (proc, info):
        for hello in (True, False, True):
            sock = raw_connection(info, hello=hello)
            if hello:
                health = orjson.dumps({"type": "health", "id": 2})
                sock.sendall(rawws.frame(health))
            sock.close()  # a FIN with no websocket close: a killed client looks like this
        assert wait_until_no_sockets(proc.pid, info.port) == []


def test_an_oversized_frame_before_hello_leaves_no_socket_in_the_daemon(tmp_path):
    # Issue 8's reproduction: still ESTABLISHED 40 s later, one file descriptor each.
    with running_daemon(tmp_path / "m.db") as (proc, info):
        sockets = [raw_connection(info, hello=False) for _ in range(3)]
        for sock in sockets:
            sock.sendall(rawws.frame_header(9 * 1024 * 1024) + b"x" * (128 * 1024))
        # The peers stay open and ignore the close: the daemon must let go by itself.
        try:
            assert wait_until_no_sockets(proc.pid, info.port) == []
        finally:
            for sock in sockets:
                sock.close()
