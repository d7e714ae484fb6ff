"""The daemon as an OS process: is it alive, is it really ours, start it, read its log."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import psutil

LOG_TAIL_LINES: Final = 5
EXIT_LOCK_TAKEN: Final = 3
"""``memhub serve``'s exit code when another daemon already holds the database."""


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie, e.g. a killed child, is not)."""
    if pid <= 0:
        return False
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # someone else's process: alive


def holds_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` has the file ``path`` open right now.

    This is how a pid read from a file is verified before it is signalled: a stale runtime
    file can name a pid that now belongs to any other program, but only the daemon holds the
    database's lock file open (an open file, unlike a pid, cannot be stale).
    """
    try:
        target = os.stat(path)
    except OSError:
        return False
    try:
        opened = psutil.Process(pid).open_files()
    except (psutil.NoSuchProcess, psutil.AccessDenied, OSError):
        return False
    for entry in opened:
        try:
            st = os.stat(entry.path)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
            return True
    return False


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last non-empty lines of a log file, or "" if there is none."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def open_private_append(path: Path) -> int:
    """Open ``path`` for appending, creating it (and its directory) readable by us only."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)


def spawn_daemon(
    store: Path | str, log_path: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``memhub serve --db <store>`` detached from this process, stderr appended to the log.

    ``store`` is a database file or a team store's URL (which never holds a password).

    It gets its own session (so the client's SIGHUP/SIGINT to our process group spare it), no
    stdin (so it never reads the MCP stream) and no stdout (so it never writes into it).
    """
    flags: dict[str, Any] = {}
    if sys.platform == "win32":  # pragma: no cover
        flags["creationflags"] = (
            subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS  # type: ignore[attr-defined]
        )
    else:
        flags["start_new_session"] = True
    fd = open_private_append(log_path)
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "memhub", "serve", "--db", str(store)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=fd,
            close_fds=True,
            env=None if env is None else dict(env),
            **flags,
        )
    finally:
        os.close(fd)


def crashed(returncode: int) -> bool:
    """Whether a child's exit means a crash to recover from rather than a reason to give up.

    A daemon killed by a signal (``kill -9``, the OOM killer: a negative code) did nothing
    wrong and is started again; its own non-zero exits (bad database, missing model) are
    final and its log says why. Losing the lock race (3) is neither.
    """
    return returncode < 0
