"""``memhub ui`` hands the browser a private file, never the ticket itself (hardening item 5).

Every process's command line (and, to root, its environment) can be read by others through
/proc; the ticket must appear in none of them. The browser here is a recorder standing in for
one (``$BROWSER``), and then Chromium opening the file it was given, as a person's would.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import psutil  # (no stubs installed)
import pytest

from memhub.webui import launch

from .helpers import Daemon, Watched, no_complaints

TICKET_RE = re.compile(r"ticket-[A-Za-z0-9_-]{20,}")


def fake_browser(tmp_path: Path) -> tuple[Path, Path]:
    """An executable that records how it was started, as ``$BROWSER`` is started."""
    record = tmp_path / "browser-started.json"
    script = tmp_path / "fake-browser"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"with open({str(record)!r} + '.tmp', 'w') as f:\n"
        "    json.dump({'argv': sys.argv, 'environ': dict(os.environ)}, f)\n"
        f"os.replace({str(record)!r} + '.tmp', {str(record)!r})\n"
    )
    script.chmod(0o755)
    return script, record


def wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def processes_showing(secret: str) -> list[str]:
    """Every process whose command line or environment contains ``secret``."""
    found = []
    for proc in psutil.process_iter():
        try:
            shown = " ".join(proc.cmdline()) + json.dumps(proc.environ())
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        if secret in shown:
            found.append(f"{proc.pid}: {proc.cmdline()}")
    return found


def test_the_ticket_reaches_the_page_through_a_private_file_only(
    daemon: Daemon, watched: Watched, tmp_path: Path
) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    script, record = fake_browser(tmp_path)
    env = {**daemon.env, "BROWSER": str(script), "XDG_RUNTIME_DIR": str(runtime)}
    ui = subprocess.Popen(
        [sys.executable, "-m", "memhub", "ui", "--db", str(daemon.db)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(record)
        started = json.loads(record.read_text())
        (given,) = started["argv"][1:]
        assert given.startswith("file://")
        page = Path(urlparse(given).path)
        assert page.parent == runtime / "memhub"
        assert stat.S_IMODE(page.stat().st_mode) == 0o600
        assert stat.S_IMODE(page.parent.stat().st_mode) == 0o700
        found = TICKET_RE.search(page.read_text())
        assert found is not None
        ticket = found.group()
        assert ticket not in json.dumps(started)  # the browser's argv and environment
        assert processes_showing(ticket) == []
        # The browser opens the file; the file sends it on to the page, which redeems it.
        watched.open(given)
        assert watched.page.url.startswith(f"http://127.0.0.1:{daemon.port}/")
        assert "ticket" not in watched.page.url
        out, _ = ui.communicate(timeout=30)
        assert ui.returncode == 0
        assert "opening the web UI in your browser" in out
        assert ticket not in out
        assert not page.exists()  # removed once the page had redeemed it
        no_complaints(watched)
    finally:
        if ui.poll() is None:
            ui.kill()
            ui.wait()


def test_leftover_files_are_swept_and_a_shared_directory_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    directory = launch.launch_dir({"XDG_RUNTIME_DIR": str(runtime)})
    assert directory == runtime / "memhub"
    old = launch.write_redirect("http://127.0.0.1:1/#ticket=ticket-old", directory)
    new = launch.write_redirect("http://127.0.0.1:1/#ticket=ticket-new", directory)
    os.utime(old, (time.time() - 120, time.time() - 120))
    launch.sweep(directory, older_than_s=60)
    assert not old.exists()
    assert new.exists()
    # No usable runtime directory: memhub's own state directory, checked the same way.
    monkeypatch.setenv("MEMHUB_STATE_DIR", str(tmp_path / "state"))
    shared = runtime / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    assert launch.launch_dir({"XDG_RUNTIME_DIR": str(shared)}) == tmp_path / "state" / "ui"
    (tmp_path / "state" / "ui").chmod(0o755)
    with pytest.raises(launch.LaunchError, match="chmod 700"):
        launch.launch_dir({})
