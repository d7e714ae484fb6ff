"""The MCP Inspector CLI (pinned 2.12.0) against ``memhub bridge``, as a third-party client.

The Inspector is installed once into ``<repo>/.cache/inspector`` with ``npm install
--prefix``. The exit code does not tell a tool failure from a success reliably (0.15 exits 0
for both; 2.12.0 with ``--format json`` exits 5 on ``isError``), so each test checks
``isError`` in the JSON result.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .e2e import HASH_RE, cleanup_daemons

pytestmark = pytest.mark.slow

INSPECTOR_VERSION = "2.12.0"
REPO = Path(__file__).resolve().parents[2]
PREFIX = REPO / ".cache" / "inspector"
PACKAGE = PREFIX / "node_modules" / "@modelcontextprotocol" / "inspector"
TOOL_IS_ERROR_EXIT = 5


@pytest.fixture(scope="session")
def inspector() -> Path:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("npm/node are not installed: the Inspector CLI test needs them")
    installed = PACKAGE / "package.json"
    if not installed.exists() or json.loads(installed.read_text())["version"] != INSPECTOR_VERSION:
        PREFIX.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(PREFIX),
                "--no-audit",
                "--no-fund",
                f"@modelcontextprotocol/inspector@{INSPECTOR_VERSION}",
            ],
            check=True,
            capture_output=True,
            timeout=600,
            env={**os.environ, "npm_config_loglevel": "error"},
        )
    return PREFIX


def run_cli(inspector: Path, db: Path, *args: str) -> dict[str, Any]:
    npx = shutil.which("npx")
    assert npx is not None
    # The Inspector hands the server only the variables given with -e (plus HOME, PATH, ...):
    # pass PYTHONPATH on, or a checkout testing its own src/ would run the installed memhub.
    extra_env = [f"PYTHONPATH={os.environ['PYTHONPATH']}"] if os.environ.get("PYTHONPATH") else []
    command = [
        npx, "--no-install", "@modelcontextprotocol/inspector", "--cli", "--format", "json",
        "-e", "MEMHUB_EMBEDDER=hash", "-e", "HF_HUB_OFFLINE=1",
        *(arg for env in extra_env for arg in ("-e", env)),
        sys.executable, "-m", "memhub", "bridge", "--db", str(db),
        *args,
    ]  # fmt: skip
    done = subprocess.run(
        command,
        cwd=inspector,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "npm_config_loglevel": "error"},
    )
    # 2.12.0 with --format json exits 5 ("tool_is_error") when a tool reports isError, and
    # still prints the result; 0 otherwise. Anything else is a failure of the client run.
    assert done.returncode in (0, TOOL_IS_ERROR_EXIT), done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    result: dict[str, Any] = data.get("result", data)
    return result


@pytest.fixture
def db(tmp_path: Path) -> Any:
    path = tmp_path / "inspector.db"
    try:
        yield path
    finally:
        cleanup_daemons(path)


def test_inspector_lists_and_calls_tools(inspector: Path, db: Path) -> None:
    listed = run_cli(inspector, db, "--method", "tools/list")
    names = [tool["name"] for tool in listed["tools"]]
    assert names[0] == "memory_store"
    assert len(names) == 9
    store = next(t for t in listed["tools"] if t["name"] == "memory_store")
    assert store["annotations"] == {"title": "Store Memory", "destructiveHint": False}

    args = {"content": "inspector was here", "metadata": {"tags": "cli"}}
    stored = run_cli(
        inspector, db, "--method", "tools/call", "--tool-name", "memory_store",
        "--tool-args-json", json.dumps(args),
    )  # fmt: skip
    assert stored["isError"] is False
    text = stored["content"][0]["text"]
    match = HASH_RE.search(text)
    assert match, text

    found = run_cli(
        inspector, db, "--method", "tools/call", "--tool-name", "memory_search",
        "--tool-args-json", json.dumps({"query": "inspector", "mode": "exact"}),
    )  # fmt: skip
    assert found["isError"] is False
    assert match.group(1) in found["content"][0]["text"]

    failed = run_cli(
        inspector, db, "--method", "tools/call", "--tool-name", "memory_store",
        "--tool-args-json", json.dumps({"content": "inspector was here"}),
    )  # fmt: skip
    # A duplicate is an outcome, not a failure: no isError (see mcp_bridge/outcomes.py).
    assert failed["isError"] is False
    assert failed["content"][0]["text"].startswith("Error storing memory: Duplicate content")
