"""Every ``memhub`` command ends quietly when its reader stops reading (``| head``), item 6."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .helpers import daemon_env, running_daemon


def run_into_closed_pipe(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """Run ``memhub args`` with stdout a pipe whose reader has already gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to stdout now fails with EPIPE
    try:
        return subprocess.run(
            [sys.executable, "-m", "memhub", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=env,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        pytest.param(["status"], 141, id="status-no-daemon"),
        pytest.param(["status", "--json"], 141, id="status-json"),
        pytest.param(["stop"], 141, id="stop-no-daemon"),
        pytest.param(["model", "status"], 141, id="model-status"),
        pytest.param(["install", "cursor", "--print"], 141, id="install-print"),
        pytest.param(["doctor"], 141, id="doctor"),
        # argparse prints these itself, ignores the failed write and exits 0.
        pytest.param(["--version"], 0, id="version"),
        pytest.param(["--help"], 0, id="help"),
    ],
)
def test_a_command_writing_to_a_closed_pipe_exits_quietly(tmp_path, args, code):
    env = daemon_env({"HOME": str(tmp_path), "MCP_MEMORY_SQLITE_PATH": str(tmp_path / "m.db")})
    result = run_into_closed_pipe(*args, env=env)
    assert result.stderr == b"", result.stderr.decode()
    assert result.returncode == code


def test_status_of_a_running_daemon_into_a_closed_pipe_exits_quietly(tmp_path):
    db = tmp_path / "m.db"
    with running_daemon(db):
        result = run_into_closed_pipe("status", "--db", str(db), env=daemon_env())
    assert result.stderr == b""
    assert result.returncode == 141
