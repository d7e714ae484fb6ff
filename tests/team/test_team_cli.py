"""The command line with a team store: install writes the URL as given, never a password."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.daemon.helpers import daemon_env
from tests.pgserver import PgServer

from .harness import fresh_store

URL = "postgresql://alice@db.example.com:5432/memhub?sslmode=verify-full"


def install(home: Path, db: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memhub", "install", "claude-code", "--db", db],
        env=daemon_env({"HOME": str(home)}),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_install_keeps_the_team_url_as_given(tmp_path: Path) -> None:
    done = install(tmp_path, URL)
    assert done.returncode == 0, done.stderr
    entry = json.loads((tmp_path / ".claude.json").read_text())["mcpServers"]["memory"]
    assert entry["args"] == ["bridge", "--db", URL]


def test_install_refuses_a_url_with_a_password(tmp_path: Path) -> None:
    for db in (
        "postgresql://alice:s3cret@db.example.com/memhub",
        "postgresql://alice@db.example.com/memhub?password=s3cret",
    ):
        done = install(tmp_path, db)
        assert done.returncode == 1
        assert "carries a password" in done.stderr
        assert "s3cret" not in done.stderr
    assert not (tmp_path / ".claude.json").exists()


def test_doctor_reports_a_team_store(pg_server: PgServer, tmp_path: Path) -> None:
    url = fresh_store(pg_server)
    done = subprocess.run(
        [sys.executable, "-m", "memhub", "doctor", "--db", url],
        env=daemon_env({"HOME": str(tmp_path), "MEMHUB_STATE_DIR": str(tmp_path / "state")}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout
    assert "pgvector 0.8" in done.stdout
    assert "model hash:v1" in done.stdout
    assert "role 'postgres' may write; 0 memories" in done.stdout
    assert "sqlite-vec" not in done.stdout
    other = fresh_store(pg_server, embedder="sentence-transformers:all-MiniLM-L6-v2")
    done = subprocess.run(
        [sys.executable, "-m", "memhub", "doctor", "--db", other],
        env=daemon_env({"HOME": str(tmp_path), "MEMHUB_STATE_DIR": str(tmp_path / "state")}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "this machine is set up for hash:v1" in done.stdout
