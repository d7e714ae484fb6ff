"""Notice when the database file is deleted or replaced under a running daemon.

SQLite keeps writing into the file it opened. If someone deletes it (or moves another file into
its place), every later write lands in an unlinked inode that vanishes when the daemon stops,
while the daemon acknowledges each one as committed. The writer therefore checks, before each
batch and periodically, that the path still names the file it opened.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


class FileWatch:
    """Remembers which file ``path`` named at open, and tells when that stops being true."""

    def __init__(self, path: Path) -> None:
        self.path = path
        st = os.stat(path)
        self._identity = (st.st_dev, st.st_ino)

    def problem(self) -> str | None:
        """Why the database file is no longer the one opened, or None while it still is."""
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
        return None
