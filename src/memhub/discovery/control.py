"""Talking to a running daemon from the command line: ``memhub status`` and ``memhub stop``.

Nothing here trusts a pid or a port read from a file: a stale runtime file (left by ``kill -9``,
the OOM killer or a power cut) can name a pid that now belongs to any other program, and a port
that another daemon (of another database) now listens on. A daemon is believed only when it
answers ``hello`` for this very file, and a pid is signalled only while the database's lock is
held and that process holds the lock file open.
"""

from __future__ import annotations

import contextlib
import os
import signal
from typing import TYPE_CHECKING

import trio

from memhub.discovery.files import RuntimeInfo, lock_is_held, read_runtime_file
from memhub.discovery.processes import holds_open
from memhub.errors import MemhubError
from memhub.protocol import messages as m

if TYPE_CHECKING:
    from pathlib import Path

    from memhub.config import StoreRef

CONNECT_TIMEOUT_S = 5.0


async def fetch_health(store: StoreRef) -> tuple[RuntimeInfo, m.HealthReport] | None:
    """The daemon's runtime info and health, or None if no daemon answers for this store."""
    from memhub.discovery import serves, serving_paths
    from memhub.transport.client import open_daemon_client

    info = read_runtime_file(serving_paths(store.db_path).runtime)
    if info is None:
        return None
    try:
        with trio.fail_after(CONNECT_TIMEOUT_S * 2):
            async with open_daemon_client(
                info.url, info.token, client_name="memhub-status"
            ) as client:
                if not serves(client.welcome, store):
                    return None  # a recycled port: another store's daemon answered
                reply = await client.call(m.Health(id=0))
    except (MemhubError, OSError, trio.TooSlowError):
        return None
    if not isinstance(reply, m.HealthReport):
        return None
    return info, reply


def _lock_owner(lock: Path, info: RuntimeInfo | None) -> int | None:
    """The pid of the process holding ``lock``, verified, or None if none can be verified."""
    candidates: list[int] = []
    if info is not None:
        candidates.append(info.pid)
    with contextlib.suppress(OSError, ValueError):
        # DaemonLock writes the holder's pid into the lock file when it takes it.
        candidates.append(int(lock.read_text().split()[0]))
    for pid in candidates:
        if pid > 0 and pid != os.getpid() and holds_open(pid, lock):
            return pid
    return None


async def _ask_to_stop(info: RuntimeInfo, store: StoreRef) -> bool:
    from memhub.discovery import serves
    from memhub.transport.client import open_daemon_client

    with contextlib.suppress(MemhubError, OSError, trio.TooSlowError):
        with trio.fail_after(CONNECT_TIMEOUT_S):
            async with open_daemon_client(
                info.url, info.token, client_name="memhub-stop"
            ) as client:
                if not serves(client.welcome, store):
                    return False
                await client.call(m.Shutdown(id=0))
                return True
    return False


async def stop_daemon(store: StoreRef, wait_s: float) -> bool | None:
    """Ask the daemon to stop and wait for it; None if none was running, False on time-out.

    Raises:
        MemhubError: the lock is held but no process can be verified as its holder (nothing
            was signalled).
    """
    from memhub.discovery import serving_paths

    paths = serving_paths(store.db_path)
    if not lock_is_held(paths.lock):
        return None  # at most a stale runtime file: there is nothing to stop
    info = read_runtime_file(paths.runtime)
    asked = info is not None and await _ask_to_stop(info, store)
    if not asked:
        pid = _lock_owner(paths.lock, info)
        if pid is None:
            if not lock_is_held(paths.lock):
                return True  # it stopped by itself meanwhile
            raise MemhubError(
                f"a process holds {paths.lock} but it cannot be verified as the memhub daemon "
                "(it may belong to another user); nothing was signalled"
            )
        os.kill(pid, signal.SIGTERM)  # the daemon treats SIGTERM as a graceful stop
    with trio.move_on_after(wait_s):
        # Another process's lock: there is no event to wait on, only time.
        while lock_is_held(paths.lock):  # noqa: ASYNC110
            await trio.sleep(0.1)
        return True
    return False
