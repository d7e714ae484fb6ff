"""The one-writer rule on the database file itself: a ``flock`` on its inode.

The lock beside the database and the identity lock in the state directory are where clients
find a daemon; neither can stop a second daemon that names the file by another path *and* has
another state directory (another HOME: a confined app, a second account of the same user). So a
daemon also takes an exclusive ``flock`` on the database file itself, held for its whole life:
the kernel keys it by the inode, whatever the path.

It does not get in SQLite's way: SQLite (and mcp-memory-service through it) locks with
``fcntl`` byte-range locks, which on Linux and macOS are independent of ``flock``. On NFS, Linux
emulates ``flock`` with ``fcntl`` locks, which would collide with SQLite's; SQLite's WAL mode does
not work over NFS either, so memhub does not support databases there. On Windows memhub has no
daemon lock yet (it refuses to start).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

if sys.platform != "win32":
    import fcntl


class InodeLock:
    """An exclusive ``flock`` on a database file, held until :meth:`release`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take it without blocking; False when another process holds it."""
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def holder_of(path: Path) -> tuple[int, str | None] | None:
    """On Linux, the pid holding the ``flock`` on ``path``'s inode and the database its
    ``memhub serve`` names (from its command line), if that can be read; else None."""
    try:
        st = os.stat(path)
        locks = Path("/proc/locks").read_text()
    except OSError:
        return None
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in locks.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 12345 fd:01:1234 0 EOF"
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == inode:
            with contextlib.suppress(ValueError):
                pid = int(fields[4])
                return pid, _served_path(pid)
    return None


def _served_path(pid: int) -> str | None:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    words = [a.decode(errors="replace") for a in argv]
    if "--db" in words and words.index("--db") + 1 < len(words):
        return words[words.index("--db") + 1]
    return None
