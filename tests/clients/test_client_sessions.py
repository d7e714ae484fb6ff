"""The scripted agent session through two independent MCP clients, memhub against upstream 12.4.

For each client (the official TypeScript SDK client, FastMCP's client) the same session runs
against ``memhub bridge`` (with the real model: search results must rank as upstream's do)
and against real mcp-memory-service 12.4.0 in a throwaway virtualenv. After normalization the
texts and ``isError`` flags must differ exactly where ``allowed_differences.json`` says, and
FastMCP may raise ``ToolError`` against memhub only where it raises against upstream.
"""

from __future__ import annotations

import shutil
import sys
from typing import TYPE_CHECKING, Any

import pytest

from tests.compat.mms_env import ensure_mms_venv, mms_env
from tests.mcp_bridge.e2e import bridge_env, cleanup_daemons

from . import harness

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.slow, pytest.mark.compat]

CLIENTS = ["ts", "fastmcp"]


def memhub_server(db: Path) -> dict[str, Any]:
    env = bridge_env(db)
    env.pop("MEMHUB_EMBEDDER")  # the real model: rankings must match upstream's
    return {"command": sys.executable, "args": ["-m", "memhub", "bridge"], "env": env}


def upstream_server(db: Path, work: Path) -> dict[str, Any]:
    python = ensure_mms_venv(harness.UPSTREAM_VERSION)
    env = dict(mms_env(python, work), MCP_MEMORY_SQLITE_PATH=str(db))
    return {"command": str(python), "args": [str(harness.HERE / "mms_stdio.py")], "env": env}


def run_both(client: str, tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    ours_dir, theirs_dir = tmp_path / "memhub", tmp_path / "upstream"
    ours_dir.mkdir()
    theirs_dir.mkdir()
    ours_db = ours_dir / "sqlite_vec.db"
    try:
        ours = harness.run_session(client, memhub_server(ours_db), ours_dir)
    finally:
        cleanup_daemons(ours_db)
    theirs = harness.run_session(
        client, upstream_server(theirs_dir / "sqlite_vec.db", theirs_dir), theirs_dir
    )
    return ours, theirs


@pytest.mark.parametrize("client", CLIENTS)
def test_session_differs_from_upstream_exactly_as_documented(client: str, tmp_path: Path) -> None:
    if client == "ts" and (shutil.which("node") is None or shutil.which("npm") is None):
        pytest.skip("node and npm are needed for the TypeScript SDK client")
    ours, theirs = run_both(client, tmp_path)
    assert ours["server"]["name"] == theirs["server"]["name"] == "memory"
    assert [s["id"] for s in ours["steps"]] == [s["id"] for s in harness.load_steps()]
    problems = harness.compare(ours, theirs)
    assert not problems, "\n\n".join(problems)
    if client == "fastmcp":
        raised_upstream = {s["id"] for s in theirs["steps"] if s.get("raised")}
        raised_here = {s["id"] for s in ours["steps"] if s.get("raised")}
        assert raised_here <= raised_upstream
        # The session does reach a ToolError on both sides (the schema-validation case).
        assert "missing_argument" in raised_here
    # The agent-scoped search found agent A's memory and nothing of agent B's, on both sides.
    for result in (ours, theirs):
        scoped = next(s for s in result["steps"] if s["id"] == "search_agent_scoped")["text"]
        assert "Agent A prefers concise answers" in scoped
        assert "Agent B" not in scoped
