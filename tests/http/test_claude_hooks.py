"""mcp-memory-service 12.4's own claude-hooks (JavaScript from its published sdist, run with
node as Claude Code runs them) against memhub's HTTP endpoint: session-start finds the
project's memories over HTTP, session-end stores its consolidation and asks for its quality
score (fire and forget); the same script against real 12.4's HTTP server has the same
outcome."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from tests.http.helpers import http_daemon, store
from tests.http.hooks_env import ensure_hooks, hooks_config
from tests.http.mms_http import mms_http_server

pytestmark = pytest.mark.compat  # downloads the 12.4.0 sdist from PyPI (once)

KEY = "hooks-key-0123456789"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
PROJECT = "demo-proj"
TRANSCRIPT = [
    {
        "type": "user",
        "message": {"role": "user", "content": "Which server runs the daemon under trio?"},
    },
    {
        "type": "assistant",
        "message": {
            "role": "assistant",
            "content": [
                {
                    "type": "text",
                    "text": "We decided to use hypercorn because it has a trio worker. I learned "
                    "that uvicorn only supports asyncio. I implemented server.py with a nursery "
                    "and fixed the port binding bug.",
                }
            ],
        },
    },
]


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "package.json").write_text(json.dumps({"name": PROJECT}))
    git = shutil.which("git")
    if git is not None:  # session-start's Phase 0 (git context) runs only in a repository
        for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "start the project"]):
            subprocess.run(
                [git, "-c", "user.name=t", "-c", "user.email=t@t.invalid", *args],
                cwd=project,
                check=True,
            )
    return project


@contextmanager
def _server(which: str, work: Path) -> Iterator[tuple[str, str]]:
    """(base URL, key) of memhub's endpoint or of real 12.4's HTTP server."""
    if which == "memhub":
        with http_daemon(work / "db.sqlite") as daemon:
            yield daemon.url, str(daemon.key)
    else:
        with mms_http_server(work, KEY) as url:
            yield url, KEY


@pytest.mark.parametrize("server", ["memhub", "mcp-memory-service-12.4.0"])
def test_session_start_and_end_hooks_have_the_same_outcome(server: str, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is needed to run the claude-hooks")
    hooks = ensure_hooks()
    home = tmp_path / "home"
    (home / ".claude" / "hooks").mkdir(parents=True)
    project = _project(tmp_path)
    transcript = tmp_path / "transcript.jsonl"
    transcript.write_text("\n".join(json.dumps(line) for line in TRANSCRIPT) + "\n")
    env = {"HOME": str(home), "PATH": str(Path(node).parent) + ":/usr/bin:/bin"}
    (tmp_path / "server").mkdir()
    with _server(server, tmp_path / "server") as (url, key):
        config = hooks_config(hooks, url, key)
        (home / ".claude" / "hooks" / "config.json").write_text(json.dumps(config))
        with httpx2.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as c:
            for text in ("trio nursery owns the daemon", "hypercorn serves HTTP", "one writer"):
                store(c, f"{PROJECT}: {text}", tags=[PROJECT, "architecture"])

        start = subprocess.run(
            [node, str(hooks / "core" / "session-start.js")],
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
        started = ANSI.sub("", start.stdout)
        event = {
            "session_id": "s-1",
            "transcript_path": str(transcript),
            "cwd": str(project),
            "hook_event_name": "SessionEnd",
            "reason": "prompt_input_exit",
        }
        end = subprocess.run(
            [node, str(hooks / "core" / "session-end.js")],
            cwd=project,
            env=env,
            input=json.dumps(event),
            capture_output=True,
            text=True,
            timeout=120,
        )
        ended = ANSI.sub("", end.stdout)
        with httpx2.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as c:
            found = c.post("/api/search/by-tag", json={"tags": ["session-consolidation"]}).json()

    assert start.returncode == 0, start.stderr
    assert "Using HTTP protocol" in started
    assert "sqlite-vec (Connected) • 3 memories" in started
    assert "Found 3 relevant memories" in started, started
    assert "demo-proj: hypercorn serves HTTP" in started  # injected as the session's context
    assert end.returncode == 0, end.stderr
    assert "Session consolidation stored successfully" in ended, ended
    summaries = found["results"]
    assert len(summaries) == 1
    summary = summaries[0]["memory"]
    assert summary["content"].startswith(f"# Session Summary - {PROJECT}")
    assert summary["memory_type"] == "session"
    assert {"claude-code-session", PROJECT} <= set(summary["tags"])
    assert summary["metadata"]["generated_by"] == "claude-code-session-end-hook"
    assert f"Memory hash: {summary['content_hash'][:8]}" in ended
