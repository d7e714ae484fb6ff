"""A real ``memhub bridge`` answers malformed JSON-RPC lines instead of dropping them.

The MCP SDK's stdio transport logs and forgets a line that does not validate; a client that
sent a request with an id then waits for its own time-out. Driven over raw pipes, because an
SDK client cannot send malformed messages.
"""

from __future__ import annotations

import json
import os
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
        self.pending = b""

    def send(self, message: dict[str, Any] | list[Any] | str) -> None:
        line = message if isinstance(message, str) else json.dumps(message)
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def receive(self, timeout: float = 10.0) -> Any:
        """The next line the bridge writes, parsed; None if nothing came within ``timeout``."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        # Our own buffer over the raw fd: two replies arriving in one read must both be seen.
        while b"\n" not in self.pending:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return json.loads(line)


@pytest.fixture
def bridge(tmp_path):
    db = tmp_path / "m.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "memhub", "bridge"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        bufsize=0,
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


def test_responses_and_notifications_the_sdk_refused_get_no_answer(bridge):
    # JSON-RPC never answers a response, nor a notification (a well-formed one without an id).
    bridge.send({"jsonrpc": "2.0", "method": "notifications/initialized", "params": {"x": 1}})
    bridge.send({"jsonrpc": "2.0", "id": 7, "result": "not a request"})
    bridge.send({"jsonrpc": "2.0", "id": 9, "error": "not an error object"})
    bridge.send({"jsonrpc": "2.0", "id": 8, "method": "tools/list"})
    reply = bridge.receive()
    assert reply is not None
    assert reply["id"] == 8


def nest(levels: int) -> str:
    return "[" * levels + "]" * levels


def in_object(text: str) -> str:
    return '{"m": ' + text + "}"


def tools_call(request_id: object, metadata: str, *, id_last: bool = False) -> str:
    """A ``memory_store`` call whose ``arguments.metadata`` is the given JSON text."""
    head = {"jsonrpc": "2.0", "method": "tools/call"}
    params = (
        '{"name": "memory_store", "arguments": {"content": "deep", "metadata": ' + metadata + "}}"
    )
    fields = [f'"{k}": {json.dumps(v)}' for k, v in head.items()]
    fields.append(f'"params": {params}')
    fields.insert(len(fields) if id_last else 0, f'"id": {json.dumps(request_id)}')
    return "{" + ", ".join(fields) + "}"


def assert_still_serving(bridge: RawBridge) -> None:
    bridge.send({"jsonrpc": "2.0", "id": 99, "method": "tools/list"})
    after = bridge.receive()
    assert after is not None, "the bridge stopped answering"
    assert after["id"] == 99
    assert "tools" in after["result"]


# -- nesting: answered before any parser recurses (hardening item 1) -------------------------


@pytest.mark.parametrize(
    ("line", "request_id"),
    [
        pytest.param(nest(1000), None, id="bare-array-1000"),
        pytest.param(nest(200_000), None, id="bare-array-200k"),
        pytest.param("[" * 5000, None, id="unterminated"),
        pytest.param(tools_call(3, in_object(nest(1000))), 3, id="in-metadata"),
        pytest.param(tools_call("late", in_object(nest(1000)), id_last=True), "late", id="id-last"),
        pytest.param(tools_call(4, in_object(nest(140))), 4, id="just-past-the-limit"),
    ],
)
def test_a_deeply_nested_line_is_answered_and_the_bridge_serves_on(bridge, line, request_id):
    bridge.send(line)
    reply = bridge.receive()
    assert reply is not None, "the bridge dropped the line without an answer"
    assert reply["id"] == request_id
    assert reply["error"]["code"] == -32600
    assert "nests deeper than 128 levels" in reply["error"]["message"]
    assert_still_serving(bridge)


def test_metadata_nested_within_the_line_limit_reaches_the_daemons_own_check(bridge):
    bridge.send(tools_call(5, in_object(nest(80))))
    reply = bridge.receive(30)
    assert reply is not None
    assert reply["id"] == 5
    assert reply["result"]["isError"] is False  # MMS reports a refused store as text
    assert "deeper than 64 levels" in reply["result"]["content"][0]["text"]
    assert_still_serving(bridge)


def test_a_json_string_argument_nested_too_deep_is_refused_like_any_bad_argument(bridge):
    # Models send metadata as a JSON string; the bridge parses it, so it is measured first (it
    # was a RecursionError, answered "Error: maximum recursion depth exceeded ...").
    line = tools_call(6, json.dumps(in_object(nest(3000))))
    bridge.send(line)
    reply = bridge.receive(30)
    assert reply is not None
    assert reply["id"] == 6
    assert reply["result"]["isError"] is True
    text = reply["result"]["content"][0]["text"]
    assert text.startswith("Input validation error:")
    assert "recursion" not in text
    assert_still_serving(bridge)


# -- JSON-RPC 2.0 section 5: the answers the spec gives for invalid input (hardening item 2) ---

INVALID = {"code": -32600}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # The spec's own examples.
        pytest.param(
            '{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]',
            {"id": None, "code": -32700},
            id="spec-invalid-json",
        ),
        pytest.param(
            {"jsonrpc": "2.0", "method": 1, "params": "bar"},
            {"id": None, **INVALID},
            id="spec-invalid-request",
        ),
        pytest.param('{"foo": "bar"}', {"id": None, **INVALID}, id="spec-foo-bar"),
        pytest.param(
            '[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},'
            '{"jsonrpc": "2.0", "method"]',
            {"id": None, "code": -32700},
            id="spec-batch-invalid-json",
        ),
        pytest.param("[]", {"id": None, **INVALID}, id="spec-empty-batch"),
        # An id that can be read is echoed; one that is not a string or an integer is not.
        pytest.param({"jsonrpc": "2.0", "id": 6}, {"id": 6, **INVALID}, id="no-method"),
        pytest.param(
            {"jsonrpc": "2.0", "id": {"a": 1}, "method": "tools/list"},
            {"id": None, **INVALID},
            id="object-id",
        ),
        pytest.param(
            {"jsonrpc": "2.0", "id": True, "method": "tools/list"},
            {"id": None, **INVALID},
            id="true-id",
        ),
        pytest.param(
            {"jsonrpc": "2.0", "id": 1.5, "method": "tools/list"},
            {"id": None, **INVALID},
            id="fractional-id",
        ),
        pytest.param(
            {"jsonrpc": "2.0", "id": None, "method": "tools/list"},
            {"id": None, **INVALID},
            id="null-id",
        ),
        pytest.param(
            {"jsonrpc": "1.0", "method": "notifications/initialized"},
            {"id": None, **INVALID},
            id="not-2.0-without-id",
        ),
    ],
)
def test_invalid_input_gets_the_answer_section_5_gives(bridge, line, expected):
    bridge.send(line)
    reply = bridge.receive()
    assert reply is not None, "the bridge dropped the line without an answer"
    assert isinstance(reply, dict), reply
    assert reply["jsonrpc"] == "2.0"
    assert reply["id"] == expected["id"]
    assert reply["error"]["code"] == expected["code"]
    assert_still_serving(bridge)


@pytest.mark.parametrize(
    ("line", "ids"),
    [
        pytest.param("[1]", [None], id="spec-one-invalid"),
        pytest.param("[1, 2, 3]", [None, None, None], id="spec-three-invalid"),
        pytest.param(
            [
                {"jsonrpc": "2.0", "id": "1", "method": "tools/list"},
                {"foo": "boo"},
                {"jsonrpc": "2.0", "method": "notifications/initialized"},
                {"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": "x"},
            ],
            ["1", None, 7],
            id="mixed",
        ),
    ],
)
def test_a_batch_gets_an_array_with_one_error_per_request(bridge, line, ids):
    bridge.send(line if isinstance(line, str) else json.dumps(line))
    reply = bridge.receive()
    assert isinstance(reply, list), reply
    assert [r["id"] for r in reply] == ids
    assert all(r["error"]["code"] == -32600 for r in reply)
    assert_still_serving(bridge)


def test_a_batch_of_notifications_gets_no_answer(bridge):
    bridge.send([{"jsonrpc": "2.0", "method": "notifications/initialized"}])
    assert_still_serving(bridge)  # the next line out answers tools/list, not the batch
