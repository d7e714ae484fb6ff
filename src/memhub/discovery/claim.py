"""A daemon's claim on its store: every lock it must hold before it opens anything.

For every store, the lock beside its runtime file (one daemon per path, or per team store on this
machine). For a SQLite file also the lock on its identity in the state directory (hard links:
clients of the other name are sent to this daemon) and a ``flock`` on the file's inode (no
second writer, whatever path, HOME or state directory names it). The locks are released when the
``ExitStack`` they were entered in closes; the OS releases them when the daemon dies.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Final

import attrs

from memhub.discovery.filelock import InodeLock, holder_of
from memhub.discovery.files import DaemonLock, read_runtime_file
from memhub.discovery.identity import FileIdentity, claim_file
from memhub.discovery.processes import EXIT_LOCK_TAKEN

if TYPE_CHECKING:
    from memhub.config import Settings

EXIT_ERROR: Final = 1
EXIT_TAKEN: Final = EXIT_LOCK_TAKEN  # another daemon serves the store (a lost race to bridges)


@attrs.frozen
class Refusal:
    """Why the daemon may not serve the store, and the exit code that says so."""

    message: str
    code: int


def claim_store(settings: Settings, held: ExitStack) -> Refusal | None:
    """Take every lock for ``settings``' store into ``held``; a refusal if one is taken."""
    paths = settings.paths
    try:
        settings.db_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return Refusal(
            f"{settings.db_path.parent}: cannot create the database directory: {exc}", EXIT_ERROR
        )
    lock = DaemonLock(paths.lock)
    try:
        acquired = lock.acquire()
    except OSError as exc:  # a read-only or foreign data directory: one line, no traceback
        return Refusal(
            f"{paths.lock}: cannot create the daemon's lock file ({exc.strerror}); memhub needs "
            f"write access to {settings.db_path.parent}",
            EXIT_ERROR,
        )
    if not acquired:
        info = read_runtime_file(paths.runtime)
        where = f" (pid {info.pid}, port {info.port})" if info else ""
        return Refusal(
            f"a daemon already serves {settings.store.location}{where}; see `memhub status`",
            EXIT_TAKEN,
        )
    held.callback(lock.release)
    if settings.database_url is not None:
        return None  # a team store has no file here: the lock above is the one claim
    return _claim_file(settings.db_path, held)


def _claim_file(db_path: Path, held: ExitStack) -> Refusal | None:
    try:
        # An empty file is a new database to SQLite; creating it here gives it an identity to
        # lock before any other daemon could open it under another name.
        os.close(os.open(db_path, os.O_RDONLY | os.O_CREAT, 0o600))
        identity = FileIdentity.of(db_path)
    except OSError as exc:
        return Refusal(f"{db_path}: cannot open the database file: {exc}", EXIT_ERROR)
    try:
        claim = claim_file(db_path, identity) if identity else None
    except OSError as exc:  # the per-user state directory, not the database, is at fault
        return Refusal(f"cannot take the lock on the database file's identity: {exc}", EXIT_ERROR)
    if isinstance(claim, Path):
        return Refusal(
            f"{db_path} is the same file as {claim}, which a daemon already serves; use that "
            f"path (or `memhub status --db {claim}`)",
            EXIT_TAKEN,
        )
    if claim is not None:
        held.callback(claim.release)
    inode_lock = InodeLock(db_path)
    if not inode_lock.acquire():
        return Refusal(_second_writer(db_path), EXIT_TAKEN)
    held.callback(inode_lock.release)
    return None


def _second_writer(db_path: Path) -> str:
    holder = holder_of(db_path)
    who = ""
    if holder is not None:
        pid, served = holder
        who = f" (pid {pid}" + (f", serving it as {served}" if served else "") + ")"
    return (
        f"{db_path}: another memhub daemon already writes this file{who}, started with another "
        "path, HOME or MEMHUB_STATE_DIR; a second writer would corrupt it. Point every client "
        "at the same path and state directory, or stop that daemon"
    )
