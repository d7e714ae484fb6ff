"""Talking to a running daemon from the command line: ``memhub status`` and ``memhub stop``."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import trio

from memhub.config import runtime_paths
from memhub.errors import MemhubError
from memhub.protocol import messages as m
from memhub.runtime import RuntimeInfo, lock_is_held, read_runtime_file
from memhub.transport.client import open_daemon_client

CONNECT_TIMEOUT_S = 5.0


def daemon_url(info: RuntimeInfo) -> str:
    return f"ws://{info.host}:{info.port}"


async def fetch_health(db_path: Path) -> tuple[RuntimeInfo, m.HealthReport] | None:
    """The daemon's runtime info and health, or None if no daemon answers for this file."""
    info = read_runtime_file(runtime_paths(db_path).runtime)
    if info is None:
        return None
    try:
        with trio.fail_after(CONNECT_TIMEOUT_S * 2):
            async with open_daemon_client(
                daemon_url(info), info.token, client_name="memhub-status"
            ) as client:
                reply = await client.call(m.Health(id=0))
    except (MemhubError, OSError, trio.TooSlowError, Exception):
        return None
    assert isinstance(reply, m.HealthReport)
    return info, reply


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def stop_daemon(db_path: Path, wait_s: float) -> bool | None:
    """Ask the daemon to stop and wait for it; None if none was running, False on time-out."""
    paths = runtime_paths(db_path)
    info = read_runtime_file(paths.runtime)
    if info is None and not lock_is_held(paths.lock):
        return None
    asked = False
    if info is not None:
        with contextlib.suppress(Exception), trio.fail_after(CONNECT_TIMEOUT_S):
            async with open_daemon_client(
                daemon_url(info), info.token, client_name="memhub-stop"
            ) as client:
                await client.call(m.Shutdown(id=0))
                asked = True
        if not asked and _alive(info.pid):
            os.kill(info.pid, signal.SIGTERM)  # the daemon treats SIGTERM as a graceful stop
            asked = True
    if not asked:
        return None
    with trio.move_on_after(wait_s):
        # Another process's lock: there is no event to wait on, only time.
        while lock_is_held(paths.lock):  # noqa: ASYNC110
            await trio.sleep(0.1)
        return True
    return False
