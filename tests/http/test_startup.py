"""Start-up of the HTTP endpoint: a port in use stops the daemon with one line naming the
process that holds it, never a silent fallback; the endpoint is up before the runtime file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from memhub.config import runtime_paths
from tests.daemon.helpers import daemon_env
from tests.http.helpers import http_daemon, http_env


def test_a_port_in_use_is_a_startup_error_naming_its_holder(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "memhub", "serve", "--db", str(db)],
            env=daemon_env(http_env({"MCP_HTTP_PORT": str(port)})),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    assert (
        f"MCP_HTTP_PORT {port} on 127.0.0.1 is already in use by pid {os.getpid()}" in done.stderr
    )
    assert "Traceback" not in done.stderr
    assert not runtime_paths(db).runtime.exists()  # no half-started daemon for clients to find


def test_the_endpoint_answers_once_the_runtime_file_exists(tmp_path: Path) -> None:
    import httpx2

    with http_daemon(tmp_path / "db.sqlite") as daemon:
        # http_daemon waited for the runtime file only; the endpoint must already answer.
        assert httpx2.get(f"{daemon.url}/api/health", timeout=5).json() == {"status": "healthy"}
