"""Bad files and mismatched embedders fail at start-up with one line naming the file and fix."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

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


@contextlib.contextmanager
def read_only_directory(directory: Path) -> Iterator[None]:
    """No new file can be created in ``directory``; the files in it stay writable.

    A mode of 0555 does that for a user; root ignores modes, so for root the directory is made
    immutable instead (files inside an immutable directory stay writable too).
    """
    if os.geteuid() != 0:
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(0o755)
        return
    if shutil.which("chattr") is None:
        pytest.skip("root ignores directory modes, and chattr is not installed")
    if subprocess.run(["chattr", "+i", str(directory)], check=False).returncode != 0:
        pytest.skip("root ignores directory modes, and this filesystem has no immutable flag")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(directory)], check=True)


def test_a_writable_database_in_a_read_only_directory_names_the_directory(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    db = data / "m.db"
    with running_daemon(db):
        pass  # the database, its lock and its log exist and stay writable; -wal/-shm are gone
    with read_only_directory(data):
        result = serve(db)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr.decode()
    line = last_line(result)
    assert line.startswith(f"memhub: {data}: the database's directory must be writable")
    assert "m.db-wal" in line
    assert f"chmod u+w {data}`" in line
    assert f"chmod u+w {db}" not in line


def test_a_state_directory_with_a_wide_mode_is_told_to_chmod(tmp_path):
    locks = tmp_path / "state" / "files"
    locks.mkdir(parents=True)
    locks.chmod(0o755)
    result = serve(tmp_path / "m.db", MEMHUB_STATE_DIR=str(tmp_path / "state"))
    assert result.returncode == 1
    line = last_line(result)
    assert f"{locks} must be private to you (mode 0700, it is 0o755)" in line
    assert f"`chmod 700 {locks}`" in line
    assert "cannot open the database file" not in line


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a directory to another user")
def test_a_state_directory_of_another_user_is_named_as_such(tmp_path):
    locks = tmp_path / "state" / "files"
    locks.mkdir(parents=True)
    locks.chmod(0o700)
    os.chown(locks, 65534, 65534)  # nobody's, mode 0700: chmod cannot fix that
    result = serve(tmp_path / "m.db", MEMHUB_STATE_DIR=str(tmp_path / "state"))
    assert result.returncode == 1
    line = last_line(result)
    assert f"{locks} belongs to another user (uid 65534; you are uid 0)" in line
    assert "MEMHUB_STATE_DIR" in line
    assert "chmod" not in line
    assert "cannot open the database file" not in line


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
