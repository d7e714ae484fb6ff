"""Bad files and mismatched embedders fail at start-up with one line naming the file and fix."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .helpers import daemon_env, running_daemon


def serve(db, **env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "memhub", "serve", "--db", str(db)],
        env=daemon_env(env),
        capture_output=True,
        timeout=120,
    )


def last_line(result: subprocess.CompletedProcess[bytes]) -> str:
    lines = result.stderr.decode().strip().splitlines()
    return lines[-1]


def test_not_sqlite(tmp_path):
    db = tmp_path / "notes.txt"
    db.write_text("dear diary\n" * 500)
    result = serve(db)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr.decode()
    assert last_line(result) == (
        f"memhub: {db}: this file is not an SQLite database; point MCP_MEMORY_SQLITE_PATH at "
        "your memory database or move this file away"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write read-only files")
def test_read_only_file(tmp_path):
    db = tmp_path / "ro.db"
    with running_daemon(db):
        pass
    db.chmod(0o444)
    result = serve(db)
    assert result.returncode == 1
    assert "read-only" in last_line(result)


def test_read_only_directory_as_root_still_explained(tmp_path):
    # A path whose directory cannot be created: one line, no traceback.
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = serve(blocker / "sub" / "db.sqlite")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr.decode()
    assert str(blocker) in last_line(result)


def test_hash_embedder_refuses_a_database_with_real_vectors(tmp_path):
    from tests.storage.builders import build_mms_v10_db

    db = tmp_path / "sqlite_vec.db"
    build_mms_v10_db(db, [("a real memory from mcp-memory-service", "x", "note", 1e9, False)])
    result = serve(db, MEMHUB_EMBEDDER="hash")
    assert result.returncode == 1
    assert last_line(result) == (
        f"memhub: {db}: this database holds real embeddings; the hash embedder "
        "(MEMHUB_EMBEDDER=hash) is only for tests and the stress harness"
    )


@pytest.mark.slow
def test_model_embedder_refuses_a_database_written_by_the_hash_embedder(tmp_path):
    import trio

    from memhub.protocol import messages as m
    from memhub.transport.client import open_daemon_client

    db = tmp_path / "fake.db"
    with running_daemon(db) as (_, info):

        async def store() -> None:
            async with open_daemon_client(info.url, info.token, client_name="t") as client:
                await client.call(m.Store(id=0, content="written with fake vectors"))

        trio.run(store)
    result = serve(db, MEMHUB_EMBEDDER="model")
    assert result.returncode == 1
    assert "was written with the embedder hash:v1" in last_line(result)
