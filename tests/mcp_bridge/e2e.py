"""Helpers for end-to-end tests: real ``memhub bridge`` processes driven by the MCP SDK client.

Each bridge runs as Claude runs it, as a subprocess speaking MCP on stdio; the bridges start
``memhub serve`` themselves (with the hash embedder, so start-up takes well under a second).
:func:`cleanup_daemons` stops every daemon serving a test database, by pid.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
import uuid
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import psutil  # (no stubs installed)
from mcp import Client, StdioServerParameters
from mcp_types import Implementation

from memhub.config import runtime_paths
from memhub.storage.sqlite import schema as schema_mod

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from mcp_types import CallToolResult

HASH_RE = re.compile(r"\(hash: ([0-9a-f]{64})\)")


def bridge_env(db: Path, **extra: str) -> dict[str, str]:
    """The environment a client would give the bridge, plus the fast test embedder."""
    env = dict(os.environ)
    for key in ("MCP_MEMORY_SQLITE_PATH", "MCP_MEMORY_SQLITEVEC_PATH", "MCP_MAX_RESPONSE_CHARS"):
        env.pop(key, None)
    env.update(
        {
            "MEMHUB_EMBEDDER": "hash",
            "HF_HUB_OFFLINE": "1",
            "MCP_MEMORY_SQLITE_PATH": str(db),
            "MEMHUB_BRIDGE_LOG_LEVEL": "INFO",
            # The hash embedder maps similar texts to similar vectors; test data such as
            # "writer 1 item 7" must not trip the (correct) semantic dedup.
            "MCP_SEMANTIC_DEDUP_ENABLED": "false",
        }
    )
    env.update(extra)
    return env


EXIT_RECORDER = Path(__file__).with_name("exit_recorder.py")


def bridge_params(db: Path, exit_file: Path, **extra: str) -> StdioServerParameters:
    """``memhub bridge`` on stdio, started through :mod:`exit_recorder` (its code lands in
    ``exit_file``)."""
    return StdioServerParameters(
        command=sys.executable,
        args=[str(EXIT_RECORDER), str(exit_file)],
        env=bridge_env(db, **extra),
    )


@asynccontextmanager
async def open_bridge(
    db: Path,
    *,
    mode: Literal["legacy", "auto"] = "legacy",
    client_name: str | None = None,
    **extra: str,
) -> AsyncIterator[Client]:
    """An initialized MCP client session with a fresh ``memhub bridge`` process, which must
    exit with code 0 when the session ends (the client closes its stdin)."""
    exit_file = db.parent / f"bridge-exit-{uuid.uuid4().hex}"
    info = Implementation(name=client_name, version="1.0") if client_name else None
    async with Client(bridge_params(db, exit_file, **extra), mode=mode, client_info=info) as client:
        yield client
    assert exit_file.exists(), "the bridge did not exit after stdin closed (it was killed)"
    assert exit_file.read_text(encoding="ascii") == "0", "the bridge exited with an error"


def text_of(result: CallToolResult) -> str:
    assert len(result.content) == 1
    block = result.content[0]
    assert block.type == "text"
    return str(getattr(block, "text", ""))


async def call_ok(client: Client, name: str, args: dict[str, Any] | None = None) -> str:
    """Call a tool that must succeed; return its text."""
    result = await client.call_tool(name, args or {})
    text = text_of(result)
    assert not result.is_error, f"{name} failed: {text}"
    return text


async def call_err(client: Client, name: str, args: dict[str, Any] | None = None) -> str:
    """Call a tool that must fail (isError); return its text."""
    result = await client.call_tool(name, args or {})
    text = text_of(result)
    assert result.is_error, f"{name} should have failed: {text}"
    return text


async def call_refused(client: Client, name: str, args: dict[str, Any] | None = None) -> str:
    """Call a tool whose refusal upstream answers as an ordinary result (no isError)."""
    result = await client.call_tool(name, args or {})
    text = text_of(result)
    assert not result.is_error, f"{name} flagged an ordinary refusal: {text}"
    assert text.startswith(("Error", "Failed", '{"error"')), text
    return text


def stored_hash(text: str) -> str:
    found = HASH_RE.search(text)
    assert found, text
    return found.group(1)


def serve_processes(db: Path) -> list[psutil.Process]:
    """Live ``memhub serve`` processes for this database."""
    out = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            cmd = proc.info["cmdline"] or []
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if "serve" in cmd and str(db) in cmd and any("memhub" in part for part in cmd):
            out.append(proc)
    return out


def runtime_pid(db: Path) -> int | None:
    try:
        data = json.loads(runtime_paths(db).runtime.read_text())
    except (OSError, ValueError):
        return None
    pid = data.get("pid")
    return pid if isinstance(pid, int) else None


def cleanup_daemons(db: Path, timeout: float = 20.0) -> None:
    """SIGTERM every daemon of ``db`` (by pid), then SIGKILL what is left after ``timeout``."""
    procs = serve_processes(db)
    pid = runtime_pid(db)
    if pid is not None and psutil.pid_exists(pid):
        with suppress(psutil.NoSuchProcess):
            procs.append(psutil.Process(pid))
    for proc in procs:
        with suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        with suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def rows(db: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """``sql``'s rows from ``db``, read on a read-only connection of its own (sqlite-vec loaded)."""
    conn = schema_mod.connect(db, readonly=True, pragmas={})
    try:
        return [tuple(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()
