"""Notice when the database file, or its WAL, is deleted or replaced under a running daemon.

SQLite keeps writing into the files it opened. If someone deletes the database (or moves
another file into its place), every later write lands in an unlinked inode that vanishes when
the daemon stops, while the daemon acknowledges each one as committed. The same holds for the
``-wal`` and ``-shm`` files: with the WAL deleted, commits go to an unlinked log that no other
connection (and no later start) will ever read, and the next process to open the database
creates a fresh, empty one. The writer therefore checks, before each batch and periodically,
that the three paths still name the files it opened.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino)


class FileWatch:
    """Remembers which files the paths named at open, and tells when that stops being true."""

    def __init__(self, path: Path) -> None:
        self.path = path
        identity = _identity(str(path))
        if identity is None:
            raise FileNotFoundError(path)
        self._identity = identity
        # The WAL and the shared-memory index exist while any connection has the database open
        # in WAL mode (the daemon's own do, from the first read on); a path not there yet is
        # recorded when it first appears.
        self._companions: dict[str, tuple[int, int] | None] = {
            f"{path}-wal": _identity(f"{path}-wal"),
            f"{path}-shm": _identity(f"{path}-shm"),
        }

    def problem(self) -> str | None:
        """Why the files are no longer the ones opened, or None while they still are."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return f"{self.path} was deleted while the daemon was using it"
        except OSError as exc:
            return f"{self.path} can no longer be checked: {exc}"
        if (st.st_dev, st.st_ino) != self._identity:
            return f"{self.path} was replaced by another file while the daemon was using it"
        if st.st_nlink == 0:
            return f"{self.path} was deleted while the daemon was using it"
        for companion, seen in self._companions.items():
            try:
                now = _identity(companion)
            except OSError as exc:
                return f"{companion} can no longer be checked: {exc}"
            if seen is None:
                self._companions[companion] = now
            elif now is None:
                return (
                    f"{companion} (the database's write-ahead log) was deleted while the daemon "
                    "was using it; writes since the last checkpoint may be lost to other programs"
                )
            elif now != seen:
                return f"{companion} was replaced by another file while the daemon was using it"
        return None
