"""The runtime file and the one-daemon lock, across real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from memhub.runtime import (
    DaemonLock,
    RuntimeInfo,
    lock_is_held,
    read_runtime_file,
    remove_runtime_file,
    write_runtime_file,
)

INFO = RuntimeInfo(
    pid=123,
    host="127.0.0.1",
    port=4567,
    token="t0k",
    protocol=1,
    version="0.1.0",
    db_path="/x.db",
    started_at=1.5,
    log_path="/x.db.memhub.log",
)


def test_runtime_file_is_0600_and_round_trips(tmp_path):
    path = tmp_path / "x.db.memhub.json"
    old = os.umask(0)  # even a permissive umask must not widen the mode
    try:
        write_runtime_file(path, INFO)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_runtime_file(path) == INFO
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind


def test_corrupt_or_foreign_runtime_file_reads_as_none(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("{not json")
    assert read_runtime_file(path) is None
    path.write_text('{"pid": 1}')
    assert read_runtime_file(path) is None
    assert read_runtime_file(tmp_path / "missing.json") is None


def test_remove_only_our_own_runtime_file(tmp_path):
    path = tmp_path / "r.json"
    write_runtime_file(path, INFO)
    remove_runtime_file(path, pid=999)
    assert path.exists()
    remove_runtime_file(path, pid=123)
    assert not path.exists()


def test_lock_is_exclusive_across_processes_and_freed_by_kill_9(tmp_path):
    lock_path = tmp_path / "x.db.memhub.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom pathlib import Path\nfrom memhub.runtime import DaemonLock\n"
            "assert DaemonLock(Path(sys.argv[1])).acquire()\nprint('held', flush=True)\n"
            "time.sleep(60)\n",
            str(lock_path),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"held"
        assert lock_is_held(lock_path)
        assert not DaemonLock(lock_path).acquire()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        deadline = time.monotonic() + 5
        while lock_is_held(lock_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not lock_is_held(lock_path)
        mine = DaemonLock(lock_path)
        assert mine.acquire()
        mine.release()
    finally:
        if holder.poll() is None:
            holder.kill()
        if holder.stdout:
            holder.stdout.close()
