"""The runtime file clients use to find a daemon, and the lock that makes it the only one.

Both sit beside the database (see :func:`memhub.config.runtime_paths`). The lock is an OS
``flock``: the kernel drops it when the daemon dies, even by ``kill -9``, so a stale lock cannot
exist. The runtime file can be stale (a crash leaves it behind); clients treat it as a hint and
trust only a successful ``hello``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

if sys.platform != "win32":
    import fcntl


@attrs.frozen(kw_only=True)
class RuntimeInfo:
    """What a running daemon publishes about itself."""

    pid: int
    host: str
    port: int
    token: str
    protocol: int
    version: str
    db_path: str
    started_at: float
    log_path: str


def new_token() -> str:
    return secrets.token_urlsafe(32)


def write_runtime_file(path: Path, info: RuntimeInfo) -> None:
    """Write atomically (temp file + rename), readable only by the owner from its creation."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # umask can only remove bits; make the mode exact anyway
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(attrs.asdict(info), handle)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    os.replace(tmp, path)


def read_runtime_file(path: Path) -> RuntimeInfo | None:
    """The daemon's runtime info, or None if the file is missing, unreadable or malformed."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        fields = {f.name: f.type for f in attrs.fields(RuntimeInfo)}
        if not isinstance(data, dict) or set(data) != set(fields):
            return None
        return RuntimeInfo(**data)
    except (OSError, ValueError, TypeError):
        return None


def remove_runtime_file(path: Path, pid: int) -> None:
    """Remove the file only if it still names ``pid`` (a newer daemon may have replaced it)."""
    info = read_runtime_file(path)
    if info is not None and info.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


class DaemonLock:
    """An exclusive, non-blocking OS lock held for the daemon's whole life."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock; False if another process holds it."""
        if sys.platform == "win32":  # pragma: no cover - memhub's daemon targets POSIX
            raise NotImplementedError("memhub serve needs a POSIX system (fcntl.flock)")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DaemonLock:
        if not self.acquire():
            raise BlockingIOError(f"{self.path} is held by another process")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def lock_is_held(path: Path) -> bool:
    """True if some process holds the daemon lock on ``path`` right now."""
    if sys.platform == "win32":  # pragma: no cover
        raise NotImplementedError("memhub needs a POSIX system (fcntl.flock)")
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
