"""The runtime file clients use to find a daemon, and the lock that makes it the only one.

Both sit beside the database (see :func:`memhub.config.runtime_paths`); the identity lock that
makes a daemon the only one for a *file* is in :mod:`memhub.discovery.identity`.

* The lock is an OS lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows) held on an open
  file for the daemon's whole life. The kernel drops it when the process dies, even by
  ``kill -9``, so a stale lock cannot exist and nobody ever needs to delete the lock file.
* The runtime file can be stale (a crash leaves it behind): clients treat it as a hint, check
  :func:`lock_is_held`, and trust only a successful ``hello``. It holds the auth token, so it
  is created readable by its owner only and replaced atomically, never rewritten in place.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import attrs

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt
else:
    import fcntl

#: A status probe holds its shared lock for microseconds; retrying this often over ~0.1 s keeps
#: a probe from making a starting daemon believe another one is running.
_ACQUIRE_ATTEMPTS: Final = 5
_ACQUIRE_RETRY_S: Final = 0.02


@attrs.frozen(kw_only=True)
class RuntimeInfo:
    """What a running daemon publishes about itself in its runtime file."""

    pid: int
    host: str
    port: int
    token: str
    protocol: int
    version: str
    db_path: str
    started_at: float
    log_path: str

    @property
    def url(self) -> str:
        """The websocket URL of the daemon."""
        return daemon_url(self.host, self.port)


def daemon_url(host: str, port: int) -> str:
    """The websocket URL of a daemon listening on ``host:port`` (IPv6 hosts in brackets)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"ws://{host}:{port}"


_FIELD_TYPES: Final[dict[str, type]] = {
    "pid": int,
    "host": str,
    "port": int,
    "token": str,
    "protocol": int,
    "version": str,
    "db_path": str,
    "started_at": float,
    "log_path": str,
}


def new_token() -> str:
    """A fresh random auth token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def write_runtime_file(path: Path, info: RuntimeInfo) -> None:
    """Publish ``info`` at ``path`` atomically, readable by the owner only from the start.

    The temp file is created with ``O_EXCL`` and mode 0600, so the token is never visible
    through a wider mode, not even for a moment, and a planted file or symlink is refused
    rather than reused. Readers see either the old file or the new one, never a torn write.
    """
    data = json.dumps(attrs.asdict(info), indent=1).encode()
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; Windows cannot open a directory, and there the rename
    # is journalled by NTFS anyway.
    if sys.platform == "win32":  # pragma: no cover
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_runtime_file(path: Path) -> RuntimeInfo | None:
    """The runtime info at ``path``, or None if it is missing, unreadable or not ours.

    A file written by another memhub version (different fields or field types) also reads as
    None: its caller should then behave as if no daemon were published.
    """
    try:
        data: Any = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or set(data) != set(_FIELD_TYPES):
        return None
    for name, tp in _FIELD_TYPES.items():
        value = data[name]
        if tp is float and type(value) is int:
            data[name] = float(value)
        elif type(value) is not tp:
            return None
    return RuntimeInfo(**data)


def remove_runtime_file(path: Path, pid: int) -> None:
    """Delete the runtime file, but only if it still names ``pid``.

    Call it while still holding the :class:`DaemonLock`: then no newer daemon can have
    replaced the file between the check and the unlink.
    """
    info = read_runtime_file(path)
    if info is not None and info.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


class DaemonLock:
    """An exclusive, non-blocking OS lock on ``path``, held for the daemon's whole life.

    Use :meth:`acquire`/:meth:`release`, or ``with DaemonLock(path):`` which raises
    :exc:`BlockingIOError` if another process holds it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object currently holds the lock."""
        return self._fd is not None

    def acquire(self, content: str | None = None) -> bool:
        """Take the lock without blocking for long; False if another process holds it.

        ``content`` (default: our pid) is written into the lock file once it is ours.
        """
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        for attempt in range(_ACQUIRE_ATTEMPTS):
            if _try_lock(fd, exclusive=True):
                break
            if attempt + 1 < _ACQUIRE_ATTEMPTS:
                time.sleep(_ACQUIRE_RETRY_S)
        else:
            os.close(fd)
            return False
        self._fd = fd
        # The pid is for humans reading the file; the lock, not the content, is the truth.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, (content if content is not None else f"{os.getpid()}\n").encode())
        return True

    def release(self) -> None:
        """Drop the lock (idempotent). The lock file stays: deleting it would race."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> DaemonLock:
        if not self.acquire():
            raise BlockingIOError(errno.EWOULDBLOCK, "held by another process", str(self.path))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def lock_is_held(path: Path) -> bool:
    """True if some process (this one included) holds the daemon lock on ``path`` right now."""
    try:
        fd = os.open(path, os.O_RDWR if sys.platform == "win32" else os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        # Shared, so that two probes running at once never see each other as a daemon.
        if not _try_lock(fd, exclusive=False):
            return True
        _unlock(fd)
        return False
    finally:
        os.close(fd)


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only

    def _try_lock(fd: int, *, exclusive: bool) -> bool:
        # msvcrt has no shared locks; a probe's exclusive byte lock lasts microseconds.
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:

    def _try_lock(fd: int, *, exclusive: bool) -> bool:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
