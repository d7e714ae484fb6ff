"""Database paths with URI-special characters: every reader opens the daemon's own file."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import trio

from memhub.protocol import messages as m
from memhub.transport.client import open_daemon_client
from tests.daemon.helpers import daemon_env, daemon_process


@pytest.mark.parametrize("dirname", ["pct%41", "C#dir", "q?x"])
async def test_readers_open_the_named_file_when_the_path_has_uri_special_characters(
    tmp_path, dirname
):
    # "pct%41" would otherwise read "pctA" (a decoy with other memories), "C#dir" and "q?x"
    # would otherwise not open at all.
    decoy = tmp_path / "pctA"
    decoy.mkdir()
    async with daemon_process(decoy / "m.db") as (_, info):
        async with open_daemon_client(f"{info.host}:{info.port}", info.token) as client:
            await client.call(m.Store(id=0, content="a memory of the decoy file"))
    target = tmp_path / dirname
    target.mkdir()
    async with daemon_process(target / "m.db") as (_, info):
        async with open_daemon_client(f"{info.host}:{info.port}", info.token) as client:
            with trio.fail_after(30):
                await client.call(m.Store(id=0, content="a memory of the named file"))
                page = await client.call(m.ListMemories(id=0))
                assert isinstance(page, m.Page)
                assert [r.content for r in page.memories] == ["a memory of the named file"]


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory nobody, root included, may create files in (the immutable attribute)."""
    path = tmp_path / "data"
    path.mkdir()
    if shutil.which("chattr") is None:
        pytest.skip("needs chattr")
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot make a directory immutable here: {made.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_read_only_data_directory_is_one_line_not_a_traceback(read_only_dir):
    db = read_only_dir / "m.db"
    result = subprocess.run(
        [sys.executable, "-m", "memhub", "serve", "--db", str(db)],
        env=daemon_env(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    stderr = result.stderr.decode()
    assert result.returncode == 1
    assert "Traceback" not in stderr
    (line,) = stderr.strip().splitlines()
    assert str(read_only_dir) in line
    assert "write access" in line
