"""The runtime file (private, atomic, strict to read) and the daemon lock across processes."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time

import attrs
import pytest

from memhub.discovery import (
    DaemonLock,
    RuntimeInfo,
    lock_is_held,
    new_token,
    read_runtime_file,
    remove_runtime_file,
    write_runtime_file,
)

INFO = RuntimeInfo(
    pid=123,
    host="127.0.0.1",
    port=8765,
    token=new_token(),
    protocol=1,
    version="0.1.0",
    db_path="/data/x.db",
    started_at=1700000000.5,
    log_path="/data/x.db.memhub.log",
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes and signals")


def test_written_file_round_trips_and_is_private_whatever_the_umask(tmp_path):
    path = tmp_path / "x.db.memhub.json"
    old = os.umask(0)  # the most permissive umask must not widen the mode
    try:
        write_runtime_file(path, INFO)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_runtime_file(path) == INFO
    assert os.listdir(tmp_path) == [path.name]  # no temp file left behind


def test_rewrite_replaces_a_wider_file_atomically(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("{}")
    path.chmod(0o644)
    before = path.stat().st_ino
    write_runtime_file(path, attrs.evolve(INFO, port=9))
    assert path.stat().st_ino != before  # a new file renamed over, not rewritten in place
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    info = read_runtime_file(path)
    assert info is not None
    assert info.port == 9


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    write_runtime_file(path, INFO)

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_runtime_file(path, attrs.evolve(INFO, port=1))
    assert read_runtime_file(path) == INFO
    assert os.listdir(tmp_path) == [path.name]


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("{torn", id="corrupt"),
        pytest.param("[]", id="not-an-object"),
        pytest.param(json.dumps({"pid": 1}), id="other-version-fields"),
        pytest.param(json.dumps({**attrs.asdict(INFO), "extra": 1}), id="extra-field"),
        pytest.param(json.dumps({**attrs.asdict(INFO), "port": "8765"}), id="wrong-type"),
        pytest.param(json.dumps({**attrs.asdict(INFO), "pid": True}), id="bool-is-not-int"),
    ],
)
def test_unusable_files_read_as_none(tmp_path, content):
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    assert read_runtime_file(path) is None


def test_integral_start_time_still_reads(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({**attrs.asdict(INFO), "started_at": 1700000000}))
    info = read_runtime_file(path)
    assert info is not None
    assert info.started_at == 1700000000.0


def test_url_brackets_ipv6_hosts():
    assert INFO.url == "ws://127.0.0.1:8765"
    assert attrs.evolve(INFO, host="::1").url == "ws://[::1]:8765"


def test_remove_only_deletes_our_own_file(tmp_path):
    path = tmp_path / "r.json"
    write_runtime_file(path, INFO)
    remove_runtime_file(path, pid=999)
    assert path.exists()
    remove_runtime_file(path, pid=123)
    assert not path.exists()
    remove_runtime_file(path, pid=123)  # already gone: fine


def test_tokens_are_long_and_fresh():
    tokens = {new_token() for _ in range(50)}
    assert len(tokens) == 50
    assert all(len(t) >= 43 for t in tokens)


def test_lock_in_one_process(tmp_path):
    path = tmp_path / "x.db.memhub.lock"
    assert not lock_is_held(path)  # no file yet
    first = DaemonLock(path)
    assert first.acquire()
    assert first.acquire()  # re-acquiring what we hold is a no-op
    assert lock_is_held(path)
    assert not DaemonLock(path).acquire()  # flock is per open file, even within a process
    with pytest.raises(BlockingIOError), DaemonLock(path):
        pass
    first.release()
    first.release()  # idempotent
    assert not lock_is_held(path)
    with DaemonLock(path) as again:
        assert lock_is_held(path)
    assert not again.held
    assert path.read_text().strip() == str(os.getpid())


HOLDER = """
import sys, time
from pathlib import Path
from memhub.discovery import DaemonLock
assert DaemonLock(Path(sys.argv[1])).acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_lock_is_exclusive_across_processes_and_freed_by_kill_9(tmp_path):
    path = tmp_path / "x.db.memhub.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        assert lock_is_held(path)
        assert not DaemonLock(path).acquire()
        holder.send_signal(signal.SIGKILL)
        assert holder.wait(10) == -signal.SIGKILL
        # The kernel drops the lock when the last fd closes, which is done by the time the
        # parent can reap the child; the grace period only guards against slow CI kernels.
        deadline = time.monotonic() + 5
        while lock_is_held(path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not lock_is_held(path)
        mine = DaemonLock(path)
        assert mine.acquire()
        mine.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()
