"""Finding, starting, verifying and stopping the daemon of a database file: the one place.

Every client (the MCP bridge, the CLI, the stress harness, the benchmarks, the web UI's
launcher) goes through this package; none builds a URL, reads a runtime file or signals a pid
on its own.

* :mod:`~memhub.discovery.files`: the runtime file and the path lock beside the database.
* :mod:`~memhub.discovery.identity`: the lock on the file's identity (hard links).
* :mod:`~memhub.discovery.processes`: pids, spawning, logs.
* :mod:`~memhub.discovery.control`: ``status`` and ``stop`` against a live daemon.

:class:`Discovery` is the seam :class:`~memhub.mcp_bridge.connection.DaemonLink` takes, so its
tests can stand in a scripted machine; :class:`LocalDiscovery` is the real one.
"""

from __future__ import annotations

import time
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from memhub.config import RuntimePaths, StoreRef, runtime_paths
from memhub.discovery.files import (
    DaemonLock,
    RuntimeInfo,
    daemon_url,
    lock_is_held,
    new_token,
    read_runtime_file,
    remove_runtime_file,
    write_runtime_file,
)
from memhub.discovery.identity import FileIdentity, serving_path
from memhub.discovery.processes import (
    EXIT_LOCK_TAKEN,
    crashed,
    log_tail,
    pid_alive,
    spawn_daemon,
)

if TYPE_CHECKING:
    from memhub.protocol import messages as m

__all__ = [
    "EXIT_LOCK_TAKEN",
    "RETIRE_WAIT_S",
    "Child",
    "DaemonLock",
    "Discovery",
    "LinkClient",
    "LocalDiscovery",
    "RuntimeInfo",
    "crashed",
    "daemon_url",
    "lock_is_held",
    "log_tail",
    "new_token",
    "pid_alive",
    "read_runtime_file",
    "remove_runtime_file",
    "same_file",
    "serves",
    "serving_paths",
    "spawn_daemon",
    "wait_until_ready",
    "write_runtime_file",
]


#: How long a newer client waits for an older daemon to drain and stop before starting its own.
RETIRE_WAIT_S = 60.0


def serves(welcome: m.Welcome, store: StoreRef) -> bool:
    """Whether the daemon that sent ``welcome`` serves ``store`` (a recycled port may belong
    to another store's daemon)."""
    if store.url is not None:
        return welcome.store == store.location
    return welcome.engine == "sqlite" and same_file(welcome.store, store.db_path)


def same_file(a: Path | str, b: Path | str) -> bool:
    """Whether two paths name one file (hard links and symlinks included)."""
    ia, ib = FileIdentity.of(Path(a)), FileIdentity.of(Path(b))
    if ia is None or ib is None:
        return Path(a) == Path(b)
    return ia == ib


def serving_paths(db_path: Path) -> RuntimePaths:
    """The lock, runtime file and log of the daemon that serves (or would serve) ``db_path``.

    If a daemon already serves the same file under another name (a hard link), these are that
    daemon's files, so every client of one file ends up at one daemon.
    """
    return runtime_paths(serving_path(db_path))


class Child(Protocol):
    """A spawned daemon process, as :class:`subprocess.Popen` is one."""

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...


class LinkClient(Protocol):
    """What a link needs of an open daemon connection."""

    @property
    def welcome(self) -> m.Welcome: ...

    async def call(self, request: m.Request) -> m.Reply: ...


class Discovery(Protocol):
    """The operating system, as a client that finds and starts daemons sees it."""

    def paths(self, db_path: Path) -> RuntimePaths: ...

    def read_runtime(self, path: Path) -> RuntimeInfo | None: ...

    def lock_held(self, path: Path) -> bool: ...

    def pid_alive(self, pid: int) -> bool: ...

    def spawn(self, store: str, log_path: Path) -> Child:
        """Start a daemon for ``store`` (a path or a team store's URL)."""
        ...

    def connect(
        self, info: RuntimeInfo, client_name: str
    ) -> AbstractAsyncContextManager[LinkClient]: ...

    async def retire(self, store: StoreRef) -> bool:
        """Stop the (older) daemon of ``store`` gracefully: it stops taking requests, commits
        every queued write, answers what it holds, and exits. True once it is gone."""
        ...


class LocalDiscovery:
    """:class:`Discovery` on this machine: real files, real processes, real sockets."""

    def paths(self, db_path: Path) -> RuntimePaths:
        return serving_paths(db_path)

    def read_runtime(self, path: Path) -> RuntimeInfo | None:
        return read_runtime_file(path)

    def lock_held(self, path: Path) -> bool:
        return lock_is_held(path)

    def pid_alive(self, pid: int) -> bool:
        return pid_alive(pid)

    def spawn(self, store: str, log_path: Path) -> Child:
        return spawn_daemon(store, log_path)

    def connect(
        self, info: RuntimeInfo, client_name: str
    ) -> AbstractAsyncContextManager[LinkClient]:
        from memhub.transport.client import open_daemon_client

        return open_daemon_client(info.url, info.token, client_name=client_name)

    async def retire(self, store: StoreRef) -> bool:
        from memhub.discovery.control import stop_daemon

        return bool(await stop_daemon(store, RETIRE_WAIT_S))


def running_as_daemon_of(db_path: Path) -> RuntimeInfo | None:
    """The runtime info of the live daemon serving ``db_path``'s file, else None.

    Live means: its lock is held and the process the runtime file names holds that lock file
    open. A stale file (the daemon died, its pid was reused) gives None.
    """
    from memhub.discovery.processes import holds_open

    paths = serving_paths(db_path)
    info = read_runtime_file(paths.runtime)
    if info is None or not lock_is_held(paths.lock):
        return None
    return info if holds_open(info.pid, paths.lock) else None


def wait_until_ready(
    db_path: Path, child: Child | None = None, timeout: float = 120
) -> RuntimeInfo:
    """Block until the daemon of ``db_path`` (``child``, if given) has published its runtime file.

    Raises:
        RuntimeError: ``child`` exited first.
        TimeoutError: nothing was published within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = read_runtime_file(serving_paths(db_path).runtime)
        pid = getattr(child, "pid", None)
        if info is not None and (pid is None or info.pid == pid) and pid_alive(info.pid):
            return info
        if child is not None and child.poll() is not None:
            raise RuntimeError(f"the daemon for {db_path} exited with code {child.returncode}")
        time.sleep(0.05)
    raise TimeoutError(f"the daemon for {db_path} did not become ready in {timeout:g} s")
