"""The MCP Inspector CLI (pinned in tests/mcp_bridge/test_inspector.py) with ``--transport http``
against a daemon's /mcp: a third-party client lists and calls the tools over Streamable HTTP."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.http.helpers import HttpDaemon, http_daemon
from tests.mcp_bridge.test_inspector import TOOL_IS_ERROR_EXIT, inspector

pytestmark = pytest.mark.slow
__all__ = ["inspector"]  # the session fixture that installs the pinned Inspector


def run_http_cli(prefix: Path, daemon: HttpDaemon, *args: str) -> dict[str, Any]:
    npx = shutil.which("npx")
    assert npx is not None
    command = [
        npx, "--no-install", "@modelcontextprotocol/inspector", "--cli", "--format", "json",
        f"{daemon.url}/mcp", "--transport", "http",
        "--header", f"Authorization: Bearer {daemon.key}",
        *args,
    ]  # fmt: skip
    done = subprocess.run(
        command,
        cwd=prefix,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "npm_config_loglevel": "error"},
    )
    assert done.returncode in (0, TOOL_IS_ERROR_EXIT), done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    result: dict[str, Any] = data.get("result", data)
    return result


def test_inspector_over_http_lists_and_calls_the_tools(inspector: Path, tmp_path: Path) -> None:
    with http_daemon(tmp_path / "db.sqlite") as daemon:
        listed = run_http_cli(inspector, daemon, "--method", "tools/list")
        stored = run_http_cli(
            inspector, daemon, "--method", "tools/call", "--tool-name", "memory_store",
            "--tool-args-json", json.dumps({"content": "inspector over http"}),
        )  # fmt: skip
    names = [tool["name"] for tool in listed["tools"]]
    assert names[0] == "memory_store"
    assert len(names) == 9
    assert stored["isError"] is False
    assert stored["content"][0]["text"].startswith("Memory stored successfully (hash: ")
