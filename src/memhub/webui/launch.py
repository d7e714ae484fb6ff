"""Handing the browser a one-time web UI link without putting it on any command line.

``memhub ui`` used to start the browser with ``http://127.0.0.1:PORT/#ticket=…`` as an
argument, and every process's command line is world-readable (``/proc/*/cmdline``): another
local user could read the ticket and redeem it first. As Jupyter does, the link now goes into a
small HTML file, private to the user (0600, in a 0700 directory), that sends the browser on to
the link; the browser is given the file's path, which is no secret. The file is removed once the
ticket is redeemed or has expired (``memhub ui`` waits for either), and any left behind by an
interrupted ``memhub ui`` goes at the next one.

The directory is ``$XDG_RUNTIME_DIR/memhub`` when the session has one (a per-login tmpfs, so the
file never reaches a disk), else ``ui`` in memhub's per-user state directory.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import secrets
import stat
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from memhub.discovery.identity import state_dir

PREFIX: Final = "memhub-ui-"
SUFFIX: Final = ".html"


class LaunchError(OSError):
    """No private place to put the link; the message says what to fix."""


def launch_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the redirect files go (created, private to this user)."""
    env = os.environ if environ is None else environ
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_absolute() and _private(Path(runtime)):
        directory = Path(runtime) / "memhub"
    else:
        directory = state_dir() / "ui"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not _private(directory):
        raise LaunchError(
            f"{directory} is not private to you (it must be yours, mode 0700), so memhub will "
            f"not put a web UI link there; fix it with `chmod 700 {directory}` or remove it"
        )
    return directory


def _private(directory: Path) -> bool:
    try:
        st = directory.stat()
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


def redirect_page(url: str) -> str:
    """An HTML page that sends the browser to ``url`` at once (and a link, if it does not)."""
    attribute = html.escape(url, quote=True)
    return (
        "<!DOCTYPE html>\n"
        '<html><head><meta charset="utf-8">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f'<meta http-equiv="refresh" content="0;url={attribute}">\n'
        "<title>memhub</title></head>\n"
        f'<body><p>Opening the memhub web UI… <a href="{attribute}">continue</a></p>\n'
        # location.replace: the file's own page does not stay in the tab's history.
        f"<script>location.replace({json.dumps(url)})</script></body></html>\n"
    )


def write_redirect(url: str, directory: Path) -> Path:
    """Write a new redirect file for ``url`` into ``directory``, readable by this user only."""
    path = directory / f"{PREFIX}{secrets.token_hex(8)}{SUFFIX}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, redirect_page(url).encode())
    finally:
        os.close(fd)
    return path


def sweep(directory: Path, older_than_s: float) -> None:
    """Remove redirect files older than ``older_than_s`` (left by an interrupted launch)."""
    cutoff = time.time() - older_than_s
    for path in directory.glob(f"{PREFIX}*{SUFFIX}"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
