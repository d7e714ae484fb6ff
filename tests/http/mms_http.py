"""Real mcp-memory-service 12.4.0's HTTP server (``memory server --http``) for compat tests and
the HTTP bench, from the throwaway virtualenv of ``tests/compat/mms_env.py``."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2

from tests.compat.mms_env import ensure_mms_venv, mms_env_vars

VERSION = "12.4.0"
MAIN = Path(__file__).with_name("mms_http_main.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def mms_http_server(work: Path, key: str, *, start_timeout: float = 300) -> Iterator[str]:
    """MMS serving REST on 127.0.0.1 with API key ``key``; yields its base URL."""
    python = ensure_mms_venv(VERSION)
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = mms_env_vars(work, work / "sqlite_vec.db", semantic_dedup=False)
    env.update(
        HOME=str(home),  # MMS also reads ~/.mcp-memory/.env: an empty home has none
        MCP_API_KEY=key,
        MCP_HTTP_PORT=str(port),
        MCP_MDNS_ENABLED="false",
        MCP_BACKUP_ENABLED="false",
        MCP_CONSOLIDATION_ENABLED="false",
    )
    log = (work / "mms-http.log").open("wb")
    proc = subprocess.Popen(
        [str(python), str(MAIN), "server", "--http", "--http-port", str(port)],
        env=env,
        cwd=work,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"MMS exited with {proc.returncode}: see {work / 'mms-http.log'}"
                )
            try:
                if httpx2.get(f"{url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"MMS did not answer within {start_timeout} s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
