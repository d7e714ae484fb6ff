"""One daemon per database *file*, whatever path names it.

The path lock beside the database (``<db>.memhub.lock``) stops two daemons for one path, but a
hard link gives one file two paths, and SQLite names its ``-wal``/``-shm`` after the path: two
daemons writing one file through two names keep two WALs and corrupt it. So a daemon also holds
a lock named after the file's identity (device and inode) in a per-user state directory, and
writes there which path it serves. A client naming the file by another path finds that claim
and talks to the daemon that holds it; a daemon started for the other path sees the claim and
exits instead of becoming a second writer.

An inode number is reused only after the file is gone, and a daemon holds its file open, so a
held identity lock always describes a live file.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path
from typing import Final

import attrs

from memhub.config import state_dir as config_state_dir
from memhub.discovery.files import DaemonLock, lock_is_held

STATE_DIR_ENV: Final = "MEMHUB_STATE_DIR"


@attrs.frozen
class FileIdentity:
    """What makes two paths one file: the device and the inode."""

    device: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileIdentity | None:
        """The identity of the file at ``path`` (following symlinks), or None if there is none."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        return cls(st.st_dev, st.st_ino)

    @property
    def key(self) -> str:
        return f"{self.device:x}-{self.inode:x}"


def state_dir() -> Path:
    """Per-user directory for identity locks (see :func:`memhub.config.state_dir`)."""
    return config_state_dir()


def _locks_dir(create: bool) -> Path:
    directory = state_dir() / "files"
    if create:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = directory.stat()
        mode = stat.S_IMODE(st.st_mode)
        if st.st_uid != os.getuid():
            # Its mode may well be 0700: chmod cannot help, only the owner (or root) can.
            raise PermissionError(
                f"{directory} belongs to another user (uid {st.st_uid}; you are uid "
                f"{os.getuid()}), so memhub cannot keep its locks there; remove it as its owner "
                f"(e.g. `sudo rm -r {directory}`, memhub creates it again) or set "
                f"{STATE_DIR_ENV} to a directory of your own"
            )
        if mode & 0o077:
            raise PermissionError(
                f"{directory} must be private to you (mode 0700, it is {oct(mode)}); fix it "
                f"with `chmod 700 {directory}`"
            )
    return directory


def identity_lock_path(identity: FileIdentity, *, create: bool = False) -> Path:
    return _locks_dir(create) / f"{identity.key}.lock"


@attrs.frozen
class FileClaim:
    """An identity lock taken by this daemon: held until :meth:`release`."""

    lock: DaemonLock

    def release(self) -> None:
        self.lock.release()


def claim_file(db_path: Path, identity: FileIdentity) -> FileClaim | Path:
    """Take the identity lock for the file ``db_path`` names, and record ``db_path`` in it.

    Returns the claim, or the path under which another daemon already serves the file.
    """
    lock = DaemonLock(identity_lock_path(identity, create=True))
    if not lock.acquire(content=json.dumps({"pid": os.getpid(), "db_path": str(db_path)})):
        served = served_path(identity)
        return served if served is not None else db_path
    return FileClaim(lock)


def served_path(identity: FileIdentity) -> Path | None:
    """The path under which a live daemon serves the file ``identity``, if one does."""
    lock = identity_lock_path(identity)
    if not lock_is_held(lock):
        return None
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        recorded = Path(json.loads(lock.read_text())["db_path"])
        # The record is ours (0700 directory), but the file may have been renamed since.
        if FileIdentity.of(recorded) == identity:
            return recorded
    return None


def serving_path(db_path: Path) -> Path:
    """The path a daemon serves ``db_path``'s file under: ``db_path`` unless an alias serves it."""
    identity = FileIdentity.of(db_path)
    if identity is None:
        return db_path
    served = served_path(identity)
    return served if served is not None else db_path
