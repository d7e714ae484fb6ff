"""Real ``memhub serve`` processes with the HTTP endpoint on 127.0.0.1, port 0."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from memhub.discovery import RuntimeInfo
from tests.daemon.helpers import start_daemon, stop_process, wait_for_runtime

KEY = "test-key-0123456789abcdef"
PORT_LINE = re.compile(r"HTTP endpoint on http://127\.0\.0\.1:(\d+)")


@dataclass(frozen=True)
class HttpDaemon:
    info: RuntimeInfo
    url: str
    key: str | None

    def client(self, *, key: str | None = "default", **kwargs: Any) -> httpx2.Client:
        """A client sending ``key`` (the daemon's by default; None: no credential)."""
        chosen = self.key if key == "default" else key
        headers = {"Authorization": f"Bearer {chosen}"} if chosen else {}
        headers.update(kwargs.pop("headers", {}))
        return httpx2.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)


def http_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        "MCP_HTTP_ENABLED": "true",
        "MCP_HTTP_PORT": "0",
        "MCP_API_KEY": KEY,
        # The hash embedder maps similar test texts to similar vectors.
        "MCP_SEMANTIC_DEDUP_ENABLED": "false",
    }
    env.update(extra or {})
    return env


def http_port(log_path: Path, timeout: float = 10) -> int:
    """The port the daemon's log says its HTTP endpoint listens on."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = PORT_LINE.findall(log_path.read_text(errors="replace"))
        if found:
            return int(found[-1])
        time.sleep(0.05)
    raise AssertionError(f"no HTTP endpoint line in {log_path}")


@contextmanager
def http_daemon(db: Path, env: Mapping[str, str] | None = None) -> Iterator[HttpDaemon]:
    """A daemon serving HTTP for the body; it must then stop cleanly on SIGTERM."""
    full = http_env(env)
    proc = start_daemon(db, full)
    try:
        info = wait_for_runtime(db, proc)
        port = http_port(Path(info.log_path))
        yield HttpDaemon(info=info, url=f"http://127.0.0.1:{port}", key=full["MCP_API_KEY"] or None)
    except BaseException:
        stop_process(proc)
        raise
    code = stop_process(proc)
    assert code == 0, f"the daemon on {db} exited with {code} on SIGTERM"


def store(client: httpx2.Client, content: str, **fields: Any) -> dict[str, Any]:
    reply = client.post("/api/memories", json={"content": content, **fields})
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body
