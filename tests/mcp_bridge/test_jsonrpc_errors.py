"""A real ``memhub bridge`` answers malformed JSON-RPC lines instead of dropping them.

The MCP SDK's stdio transport logs and forgets a line that does not validate; a client that
sent a request with an id then waits for its own time-out. Driven over raw pipes, because an
SDK client cannot send malformed messages.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
from typing import Any

import pytest

from .e2e import bridge_env, cleanup_daemons

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    },
}


class RawBridge:
    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc

    def send(self, message: dict[str, Any] | str) -> None:
        line = message if isinstance(message, str) else json.dumps(message)
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def receive(self, timeout: float = 10.0) -> dict[str, Any] | None:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        reply: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return reply


@pytest.fixture
def bridge(tmp_path):
    db = tmp_path / "m.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "memhub", "bridge"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=bridge_env(db),
    )
    raw = RawBridge(proc)
    raw.send(INITIALIZE)
    assert (raw.receive() or {}).get("id") == 1
    raw.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    yield raw
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.wait(20) == 0
    cleanup_daemons(db)


@pytest.mark.parametrize(
    ("line", "code", "request_id", "says"),
    [
        ({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": "x"}, -32600, 2, "params"),
        (
            {"jsonrpc": "2.0", "id": "s", "method": "tools/list", "params": [1]},
            -32600,
            "s",
            "params",
        ),
        ({"jsonrpc": "1.0", "id": 3, "method": "tools/list"}, -32600, 3, "jsonrpc"),
        ({"id": 4, "method": "tools/list"}, -32600, 4, "jsonrpc"),
        ({"jsonrpc": "2.0", "id": 5, "method": 7}, -32600, 5, "method"),
        ('{"jsonrpc": "2.0", "id": 6, "method": "tools/list"', -32700, None, "Parse error"),
        ("[1, 2]", -32600, None, "one JSON-RPC object"),
    ],
)
def test_a_malformed_request_gets_a_json_rpc_error(bridge, line, code, request_id, says):
    bridge.send(line)
    reply = bridge.receive()
    assert reply is not None, "the bridge dropped the request without an answer"
    assert reply["id"] == request_id
    assert reply["error"]["code"] == code
    assert says in reply["error"]["message"]
    # ...and the session goes on.
    bridge.send({"jsonrpc": "2.0", "id": 99, "method": "tools/list"})
    after = bridge.receive()
    assert after is not None
    assert after["id"] == 99
    assert "tools" in after["result"]


def test_malformed_notifications_and_responses_get_no_answer(bridge):
    bridge.send({"jsonrpc": "1.0", "method": "notifications/initialized"})
    bridge.send({"jsonrpc": "2.0", "id": 7, "result": "not a request"})
    bridge.send({"jsonrpc": "2.0", "id": 8, "method": "tools/list"})
    reply = bridge.receive()
    assert reply is not None
    assert reply["id"] == 8
