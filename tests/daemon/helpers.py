"""Start and stop real ``memhub serve`` processes for tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import apsw
import trio

from memhub.discovery import RuntimeInfo, read_runtime_file, serving_paths, wait_until_ready


def daemon_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("MEMHUB_EMBEDDER", "hash")
    env["HF_HUB_OFFLINE"] = "1"
    env.pop("MCP_MEMORY_SQLITE_PATH", None)
    env.pop("MCP_MEMORY_SQLITEVEC_PATH", None)
    env.update(extra or {})
    return env


def wait_for_runtime(
    db: Path, proc: subprocess.Popen[bytes] | None, timeout: float = 60
) -> RuntimeInfo:
    try:
        return wait_until_ready(db, proc, timeout)
    except RuntimeError:
        assert proc is not None
        out = proc.stderr.read().decode() if proc.stderr else ""
        raise RuntimeError(f"daemon exited with {proc.returncode}: {out}") from None


def start_daemon(db: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "memhub", "serve", "--db", str(db)],
        env=daemon_env(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 30) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stderr:
        proc.stderr.close()
    return proc.returncode


@contextmanager
def running_daemon(
    db: Path, env: Mapping[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], RuntimeInfo]]:
    """A daemon on ``db`` for the body; it must then stop cleanly (exit code 0) on SIGTERM."""
    proc = start_daemon(db, env)
    try:
        info = wait_for_runtime(db, proc)
        yield proc, info
    except BaseException:
        stop_process(proc)
        raise
    code = stop_process(proc)
    assert code == 0, f"the daemon on {db} exited with {code} on SIGTERM"


@asynccontextmanager
async def daemon_process(
    db: Path, env: Mapping[str, str] | None = None
) -> AsyncIterator[tuple[subprocess.Popen[bytes], RuntimeInfo]]:
    """:func:`running_daemon` for async tests: waits for the runtime file without blocking."""
    proc = start_daemon(db, env)
    try:
        deadline = trio.current_time() + 60
        while (
            info := read_runtime_file(serving_paths(db).runtime)
        ) is None or info.pid != proc.pid:
            if proc.poll() is not None:
                out = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"daemon exited with {proc.returncode}: {out}")
            if trio.current_time() > deadline:
                raise TimeoutError(f"the daemon for {db} did not become ready in 60 s")
            await trio.sleep(0.05)  # polling a file another process writes: no event to wait on
        yield proc, info
    except BaseException:
        await trio.to_thread.run_sync(stop_process, proc)
        raise
    code = await trio.to_thread.run_sync(stop_process, proc)
    assert code == 0, f"the daemon on {db} exited with {code} on SIGTERM"


@dataclass(frozen=True)
class DbState:
    active: dict[str, int]  # content_hash -> rowid of non-deleted memories
    all_hashes: list[str]
    vector_ids: set[int]
    integrity: str


def db_state(db: Path) -> DbState:
    """What an independent reader sees in the file (read-only, with sqlite-vec loaded)."""
    from memhub.storage.sqlite.schema import connect
    from memhub.storage.sqlite.values import as_int, as_str

    conn = connect(db, readonly=True, pragmas={"busy_timeout": "5000"})
    try:
        active = {
            as_str(r[0]): as_int(r[1])
            for r in conn.execute("SELECT content_hash, id FROM memories WHERE deleted_at IS NULL")
        }
        hashes = [as_str(r[0]) for r in conn.execute("SELECT content_hash FROM memories")]
        vec_ids = {as_int(r[0]) for r in conn.execute("SELECT rowid FROM memory_embeddings")}
        integrity = as_str(conn.execute("PRAGMA integrity_check").fetchall()[0][0])
    finally:
        conn.close()
    return DbState(active=active, all_hashes=hashes, vector_ids=vec_ids, integrity=integrity)


def assert_consistent(db: Path) -> DbState:
    state = db_state(db)
    assert state.integrity == "ok"
    assert len(state.all_hashes) == len(set(state.all_hashes)), "a content hash is stored twice"
    assert set(state.active.values()) == state.vector_ids, "memories and embeddings disagree"
    return state


def hold_write_lock(db: Path, seconds: float) -> subprocess.Popen[bytes]:
    """Another process that takes the write lock (BEGIN IMMEDIATE) and sits on it."""
    code = (
        "import apsw, sys, time\n"
        "c = apsw.Connection(sys.argv[1])\n"
        "c.execute('PRAGMA busy_timeout=5000')\n"
        "c.execute('BEGIN IMMEDIATE')\n"
        "print('locked', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n"
        "c.execute('COMMIT')\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(db), str(seconds)], stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"locked"
    return proc


__all__ = ["apsw"]
