"""``POST /api/harvest`` against a real daemon whose home holds a Claude Code project: 12.4's
answers, the candidates stored through the daemon, and hostile input refused with nothing
written."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memhub.mcp_bridge.v12_tools.harvest import MAX_SESSION_BYTES
from tests.daemon.helpers import db_state
from tests.http.helpers import HttpDaemon, http_daemon

TRANSCRIPT = Path(__file__).with_name("data") / "claude_session.jsonl"
SESSION = TRANSCRIPT.stem
PROJECT = "-home-dev-proj"
HOSTILE = "hostile"
EXPECTED_CANDIDATES = [
    {
        "type": "convention",
        "content": "Rule: never commit directly to main, always open a branch first.",
        "confidence": 0.8,
        "tags": ["harvest:convention"],
    },
    {
        "type": "bug",
        "content": "I looked into it.. The root cause was a stale lock file left by the crashed "
        "worker.. I removed it on startup.",
        "confidence": 0.75,
        "tags": ["harvest:bug"],
    },
    {
        "type": "decision",
        "content": "We chose SQLite over Postgres because it is embedded.",
        "confidence": 0.75,
        "tags": ["harvest:decision"],
    },
    {
        "type": "learning",
        "content": "Turns out the cache was cold.. "
        "Lesson: warm it first, the key finding of today.",
        "confidence": 0.75,
        "tags": ["harvest:learning"],
    },
]


def claude_home(root: Path) -> Path:
    """A home with one Claude Code project holding the fixture transcript."""
    home = root / "home"
    project = home / ".claude" / "projects" / PROJECT
    project.mkdir(parents=True)
    shutil.copy(TRANSCRIPT, project / TRANSCRIPT.name)
    return home


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = claude_home(tmp_path_factory.mktemp("harvest"))
    _hostile(home)
    return home


@pytest.fixture(scope="module")
def daemon(home: Path) -> Iterator[HttpDaemon]:
    env = {"HOME": str(home), "MCP_HTTP_MAX_BODY_BYTES": "65536"}
    with http_daemon(home.parent / "db.sqlite", env) as running:
        yield running


def _result(**overrides: Any) -> dict[str, Any]:
    return {
        "session_id": SESSION,
        "total_messages": 5,
        "found": 4,
        "stored": 0,
        "by_type": {"convention": 1, "bug": 1, "decision": 1, "learning": 1},
        "candidates": EXPECTED_CANDIDATES,
        "coverage": {},
        **overrides,
    }


def test_a_dry_run_reports_and_a_real_run_stores(daemon: HttpDaemon, home: Path) -> None:
    db = home.parent / "db.sqlite"
    with daemon.client() as c:
        dry = c.post("/api/harvest", json={"project_path": PROJECT})
        assert dry.status_code == 200, dry.text
        assert dry.json() == {"dry_run": True, "results": [_result()]}
        # 12.4 without an LLM provider answers use_llm with the heuristic result
        llm = c.post("/api/harvest", json={"project_path": PROJECT, "use_llm": True})
        assert llm.json() == dry.json()
        listed = c.post("/api/harvest", json={"project_path": PROJECT, "session_ids": []})
        assert listed.json() == dry.json()
        assert db_state(db).active == {}
        only = c.post("/api/harvest", json={"project_path": PROJECT, "types": ["bug"]}).json()
        assert only["results"][0]["by_type"] == {"bug": 1}
        real = c.post("/api/harvest", json={"project_path": PROJECT, "dry_run": False})
        assert real.status_code == 200, real.text
        assert real.json() == {"dry_run": False, "results": [_result(stored=4)]}
        stored = c.get("/api/memories", params={"tag": "session-harvest"}).json()["memories"]
        # no tracker over REST: a second run finds the same candidates, all duplicates now
        again = c.post(
            "/api/harvest",
            json={"project_path": PROJECT, "dry_run": False, "session_ids": [SESSION]},
        ).json()
    assert again["results"][0]["stored"] == 0
    assert len(db_state(db).active) == 4
    assert sorted(m["content"] for m in stored) == sorted(
        str(c["content"]) for c in EXPECTED_CANDIDATES
    )
    for memory in stored:
        kind = memory["tags"][2].removeprefix("harvest:")
        assert memory["tags"] == ["session-harvest", "harvest:method:heuristic", f"harvest:{kind}"]
        assert memory["metadata"] == {
            "confidence": {"convention": 0.8}.get(kind, 0.75),
            "source": "harvest",
            "harvest_method": "heuristic",
            "harvest_model": None,
            "harvest_pipeline_version": 3,
            "harvest_session_id": SESSION,
        }


def test_a_read_only_caller_cannot_harvest(tmp_path: Path) -> None:
    home = claude_home(tmp_path)
    env = {
        "HOME": str(home),
        "MCP_API_KEY": "",
        "MCP_ALLOW_ANONYMOUS_ACCESS": "true",
        "MCP_ANONYMOUS_SCOPE": "read",
    }
    db = tmp_path / "db.sqlite"
    with http_daemon(db, env) as d, d.client(key=None) as c:
        dry = c.post("/api/harvest", json={"project_path": PROJECT})
        real = c.post("/api/harvest", json={"project_path": PROJECT, "dry_run": False})
    for reply in (dry, real):
        assert reply.status_code == 403
        assert reply.json()["detail"]["error"] == "insufficient_scope"
    assert db_state(db).active == {}


def _hostile(home: Path) -> None:
    """A second project with transcripts and links a caller might aim the route at."""
    project = home / ".claude" / "projects" / HOSTILE
    project.mkdir()
    shutil.copy(TRANSCRIPT, project / TRANSCRIPT.name)
    (project / "garbage.jsonl").write_bytes(b"\x00\x01 not json at all\nPK\x03\x04 zip bytes\n")
    with (project / "huge.jsonl").open("wb") as f:
        f.truncate(MAX_SESSION_BYTES + 1)  # sparse: no disk, but over the limit
    outside = home.parent / "secret.jsonl"
    shutil.copy(TRANSCRIPT, outside)
    (project / "escape.jsonl").symlink_to(outside)
    (home / ".claude" / "projects" / "linked-out").symlink_to(home.parent, target_is_directory=True)


BAD = [
    pytest.param(
        {"sessions": 1},
        400,
        "project_path is required for HTTP harvest (CWD inference only works in MCP context)",
        id="no-project",
    ),
    pytest.param({"project_path": "/etc"}, 400, "project_path must be", id="absolute"),
    pytest.param({"project_path": "../../.ssh"}, 400, "project_path must be", id="dotdot"),
    pytest.param({"project_path": "a/../../x"}, 400, "project_path must be", id="inner-dotdot"),
    pytest.param({"project_path": "."}, 400, "project_path must be", id="the-root"),
    pytest.param({"project_path": "x\u0000y"}, 400, "project_path must be", id="nul"),
    pytest.param({"project_path": "linked-out"}, 400, "project_path must be", id="link-out"),
    pytest.param({"project_path": "nope"}, 404, "Project directory not found: ", id="missing"),
    pytest.param(
        {"project_path": PROJECT, "types": ["decision", "nope"]},
        400,
        "Invalid types: ['nope']. Must be subset of "
        "['decision', 'bug', 'convention', 'learning', 'context']",
        id="types",
    ),
    pytest.param(
        {"project_path": HOSTILE, "session_ids": ["garbage"], "dry_run": False},
        400,
        "session garbage.jsonl is not a JSONL transcript",
        id="not-jsonl",
    ),
    pytest.param(
        {"project_path": HOSTILE, "session_ids": [SESSION, "huge"], "dry_run": False},
        400,
        f"session huge.jsonl is {MAX_SESSION_BYTES + 1} bytes, over the limit",
        id="huge",
    ),
    pytest.param(
        {"project_path": HOSTILE, "session_ids": ["escape"], "dry_run": False},
        400,
        "session escape is a link out of the project directory",
        id="session-link-out",
    ),
    pytest.param(
        {"project_path": HOSTILE, "session_ids": ["../secret"], "dry_run": False},
        400,
        "invalid session id '../secret': a path separator",
        id="session-id-path",
    ),
    pytest.param(
        {"project_path": HOSTILE, "session_ids": [""], "dry_run": False},
        400,
        "invalid session id '': empty",
        id="session-id-empty",
    ),
]


@pytest.mark.parametrize(("body", "status", "detail"), BAD)
def test_hostile_input_is_refused_and_nothing_is_written(
    daemon: HttpDaemon, home: Path, body: dict[str, Any], status: int, detail: str
) -> None:
    before = set(db_state(home.parent / "db.sqlite").active)
    with daemon.client() as c:
        reply = c.post("/api/harvest", json=body)
    assert reply.status_code == status, reply.text
    assert reply.json()["detail"].startswith(detail)
    assert set(db_state(home.parent / "db.sqlite").active) == before


def test_wrong_types_and_oversize_bodies_are_refused(daemon: HttpDaemon, home: Path) -> None:
    with daemon.client() as c:
        typed = c.post("/api/harvest", json={"project_path": 5, "sessions": "x", "dry_run": []})
        zero = c.post("/api/harvest", json={"project_path": PROJECT, "sessions": 0})
        conf = c.post("/api/harvest", json={"project_path": PROJECT, "min_confidence": 2})
        big = c.post(
            "/api/harvest",
            content=json.dumps({"project_path": PROJECT, "session_ids": ["x" * 70_000]}),
            headers={"content-type": "application/json"},
        )
    assert typed.status_code == 422
    assert [e["loc"][-1] for e in typed.json()["detail"]] == ["sessions", "dry_run", "project_path"]
    assert zero.status_code == 422
    assert conf.status_code == 422
    assert big.status_code == 413
    assert big.json()["error"] == "payload_too_large"
