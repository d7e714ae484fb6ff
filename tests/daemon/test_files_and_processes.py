"""Issue 8, files and processes: what another name, a stale file, a kill or a deleted database
may do to a running daemon. Real ``memhub`` processes, real files, real signals."""

from __future__ import annotations

import os
import secrets
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import apsw
import pytest
import trio

from memhub.config import runtime_paths
from memhub.discovery import (
    LinkClient,
    LocalDiscovery,
    RuntimeInfo,
    read_runtime_file,
    serving_paths,
    wait_until_ready,
    write_runtime_file,
)
from memhub.domain.hashing import content_hash
from memhub.errors import DatabaseError, Unavailable
from memhub.mcp_bridge.connection import DaemonLink, LinkSettings
from memhub.protocol import messages as m
from memhub.transport.client import open_daemon_client

from .helpers import assert_consistent, daemon_env, daemon_process, running_daemon, stop_process


def memhub(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memhub", *args],
        env=daemon_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


async def store_many(info: RuntimeInfo, prefix: str, n: int) -> list[str]:
    hashes = []
    async with open_daemon_client(info.url, info.token, client_name=prefix) as client:
        for i in range(n):
            words = " ".join(secrets.token_hex(6) for _ in range(6))
            reply = await client.call(m.Store(id=0, content=f"{prefix} {i}: {words}"))
            assert isinstance(reply, m.Stored)
            hashes.append(reply.content_hash)
    return hashes


# -- 8.1: one daemon per file, whatever path names it -----------------------------------------


def test_a_hard_link_never_starts_a_second_writer_and_both_names_reach_one_daemon(tmp_path):
    db = tmp_path / "m.db"
    alias_dir = tmp_path / "elsewhere"
    alias_dir.mkdir()
    alias = alias_dir / "alias.db"
    with running_daemon(db) as (proc, info):
        os.link(db, alias)
        second = memhub("serve", "--db", str(alias))
        assert second.returncode == 3, second.stderr
        assert "same file as" in second.stderr
        assert str(db) in second.stderr
        assert not runtime_paths(alias).runtime.exists()
        # Every client naming the alias is sent to the one daemon.
        assert serving_paths(alias) == runtime_paths(db)
        via_alias = wait_until_ready(alias, None, 10)
        assert via_alias.pid == proc.pid

        async def both() -> None:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(store_many, info, "through-the-name", 150)
                nursery.start_soon(store_many, via_alias, "through-the-link", 150)

        trio.run(both)
        status = memhub("status", "--db", str(alias), "--json")
        assert status.returncode == 0, status.stderr
        assert f'"pid": {proc.pid}' in status.stdout
    state = assert_consistent(db)
    assert len(state.active) == 300


def test_a_hard_link_with_another_state_dir_still_cannot_start_a_second_writer(tmp_path):
    # Another HOME (a confined app) sees neither the first daemon's path lock nor its identity
    # claim; the flock on the database's inode is what stops the second writer.
    db = tmp_path / "m.db"
    alias_dir = tmp_path / "elsewhere"
    alias_dir.mkdir()
    alias = alias_dir / "alias.db"
    other_home = tmp_path / "other-home"
    other_env = {
        "HOME": str(other_home),
        "MEMHUB_STATE_DIR": str(other_home / "state"),
    }
    with running_daemon(db) as (proc, info):
        os.link(db, alias)
        second = memhub("serve", "--db", str(alias), env=other_env)
        assert second.returncode == 3, second.stderr
        assert "another memhub daemon already writes this file" in second.stderr
        assert f"pid {proc.pid}" in second.stderr
        assert str(db) in second.stderr  # where that daemon serves it, read from its argv
        assert not runtime_paths(alias).runtime.exists()
        hashes = trio.run(store_many, info, "while-refused", 300)
    state = assert_consistent(db)
    assert set(state.active) == set(hashes)


async def test_a_bridge_naming_the_alias_attaches_instead_of_spawning(tmp_path):
    db = tmp_path / "m.db"
    alias = tmp_path / "alias.db"
    async with daemon_process(db) as (proc, _info):
        os.link(db, alias)
        async with trio.open_nursery() as nursery:
            link = DaemonLink(LinkSettings(db_path=alias, start_timeout_s=10), nursery)
            delivery = await link.call(m.Health(id=0))
            assert delivery.error is None
            assert isinstance(delivery.reply, m.HealthReport)
            assert delivery.reply.pid == proc.pid
            link.close()


# -- 8.3: stop and status never trust a stale runtime file -------------------------------------


def test_stop_with_a_stale_runtime_file_never_signals_an_unrelated_process(tmp_path):
    db = tmp_path / "m.db"
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # What kill -9 leaves behind once the pid has been reused by another program.
        write_runtime_file(
            runtime_paths(db).runtime,
            RuntimeInfo(
                pid=bystander.pid,
                host="127.0.0.1",
                port=9,
                token="stale",
                protocol=1,
                version="0",
                db_path=str(db),
                started_at=0.0,
                log_path=str(runtime_paths(db).log),
            ),
        )
        result = memhub("stop", "--db", str(db))
        assert result.returncode == 3, result.stderr
        assert "no daemon serves" in result.stdout
        time.sleep(0.3)
        assert bystander.poll() is None, "memhub stop signalled an unrelated process"
    finally:
        bystander.kill()
        bystander.wait()


def test_stop_signals_the_verified_lock_holder_not_the_pid_in_a_forged_runtime_file(tmp_path):
    db = tmp_path / "m.db"
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with running_daemon(db) as (proc, info):
            # The runtime file now names a bystander and a dead port: only the lock is true.
            forged = RuntimeInfo(
                pid=bystander.pid,
                host="127.0.0.1",
                port=9,
                token="forged",
                protocol=info.protocol,
                version=info.version,
                db_path=info.db_path,
                started_at=info.started_at,
                log_path=info.log_path,
            )
            write_runtime_file(runtime_paths(db).runtime, forged)
            result = memhub("stop", "--db", str(db))
            assert result.returncode == 0, result.stderr
            assert proc.wait(20) == 0
        assert bystander.poll() is None, "memhub stop signalled an unrelated process"
    finally:
        bystander.kill()
        bystander.wait()


def test_status_refuses_a_daemon_that_serves_another_file(tmp_path):
    db, other = tmp_path / "m.db", tmp_path / "other.db"
    with running_daemon(other) as (_proc, info):
        # A stale runtime file for m.db whose port is now another database's daemon.
        write_runtime_file(runtime_paths(db).runtime, info)
        result = memhub("status", "--db", str(db))
        assert result.returncode == 3, result.stdout
        assert f"no daemon serves {db}" in result.stdout


# -- 8.4: a bridge recovers when the daemon it started is killed -------------------------------


def _dead(pid: int) -> bool:
    """Gone, or dead and not yet reaped (the link reaps its children itself)."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat_line.rsplit(")", 1)[1].split()[0] in ("Z", "X")


class KillingDiscovery(LocalDiscovery):
    """The real machine, except that the daemon is SIGKILLed at chosen stores.

    ``after_commit``: the daemon has committed the store and sent its ack, which the link never
    sees (the daemon dies first, as a SIGKILL between COMMIT and the ack's arrival would do).
    ``before``: the daemon is dead before the store is sent.
    """

    def __init__(self, *, after_commit: set[int], before: set[int]) -> None:
        self.after_commit, self.before = after_commit, before
        self.stores: dict[str, int] = {}  # content -> which store it is (retries are not new)
        self.killed: list[int] = []

    def connect(
        self, info: RuntimeInfo, client_name: str
    ) -> AbstractAsyncContextManager[LinkClient]:
        return self._connect(info, client_name)

    @asynccontextmanager
    async def _connect(self, info: RuntimeInfo, client_name: str) -> AsyncIterator[LinkClient]:
        async with super().connect(info, client_name) as client:
            yield _KillingClient(client, self)


class _KillingClient:
    def __init__(self, inner: LinkClient, script: KillingDiscovery) -> None:
        self.inner, self.script = inner, script

    @property
    def welcome(self) -> m.Welcome:
        return self.inner.welcome

    async def call(self, request: m.Request) -> m.Reply:
        if not isinstance(request, m.Store):
            return await self.inner.call(request)
        n = self.script.stores.setdefault(request.content, len(self.script.stores))
        if n in self.script.before and n not in self.script.killed:
            await self._kill(n)
        reply = await self.inner.call(request)
        if n in self.script.after_commit and n not in self.script.killed:
            assert isinstance(reply, m.Stored)  # committed: the daemon acks after COMMIT
            await self._kill(n)
            raise Unavailable("the daemon died before its ack arrived")
        return reply

    async def _kill(self, n: int) -> None:
        self.script.killed.append(n)
        pid = self.inner.welcome.pid
        os.kill(pid, signal.SIGKILL)
        while not _dead(pid):  # noqa: ASYNC110 - another process's death has no event
            await trio.sleep(0.01)


async def test_a_bridge_keeps_storing_while_its_daemon_is_killed_twice(tmp_path, monkeypatch):
    for key, value in daemon_env().items():
        monkeypatch.setenv(key, value)
    db = tmp_path / "m.db"
    # Store 3's daemon dies after committing it (its retry meets its own row: the flaky case,
    # now every run); store 7's daemon is dead before it is sent.
    script = KillingDiscovery(after_commit={3}, before={7})
    deliveries = []
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            link = DaemonLink(LinkSettings(db_path=db, start_timeout_s=60), nursery, script)
            for i in range(10):
                words = " ".join(secrets.token_hex(6) for _ in range(6))
                content = f"survives the kills {i} {words}"
                delivery = await link.call(m.Store(id=0, content=content))
                assert delivery.error is None, (i, delivery)
                assert isinstance(delivery.reply, m.Stored)
                assert delivery.reply.content_hash == content_hash(content)
                deliveries.append(delivery)
            link.close()
    assert script.killed == [3, 7]
    assert [i for i, d in enumerate(deliveries) if d.ambiguous] == [3, 7]
    result = memhub("stop", "--db", str(db))
    assert result.returncode == 0, result.stderr
    state = assert_consistent(db)
    assert len(state.active) == 10


# -- 8.8: the database deleted or replaced under a running daemon ------------------------------


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_writes_are_refused_and_the_daemon_stops_when_its_file_goes(tmp_path, how):
    db = tmp_path / "m.db"
    with running_daemon(db) as (proc, info):
        trio.run(store_many, info, "before", 3)
        if how == "deleted":
            db.unlink()
        else:
            other = tmp_path / "other.db"
            sqlite3.connect(other).close()
            os.replace(other, db)

        async def store_after() -> None:
            async with open_daemon_client(info.url, info.token, client_name="after") as client:
                with pytest.raises(DatabaseError, match=f"was {how}"):
                    await client.call(m.Store(id=0, content="lost if acknowledged"))

        trio.run(store_after)
        assert proc.wait(20) == 0  # it stops by itself
        assert read_runtime_file(runtime_paths(db).runtime) is None


def test_health_reports_a_deleted_database_before_the_daemon_stops(tmp_path):
    db = tmp_path / "m.db"
    with running_daemon(db, {"MEMHUB_IDLE_SHUTDOWN": "0"}) as (proc, info):

        async def check() -> None:
            async with open_daemon_client(info.url, info.token, client_name="h") as client:
                db.unlink()
                with pytest.raises(DatabaseError):
                    await client.call(m.Store(id=0, content="x"))
                health = await client.call(m.Health(id=0))
                assert isinstance(health, m.HealthReport)
                assert health.status == "unhealthy"
                assert "deleted" in health.message

        trio.run(check)
        assert proc.wait(20) == 0


# -- 8.9: another program's database is refused and left untouched -----------------------------


def test_an_unrelated_sqlite_database_is_refused_untouched(tmp_path):
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO users (name) VALUES ('ada')")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    result = memhub("serve", "--db", str(db))
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("memhub:")]
    assert len(lines) == 1, result.stderr
    assert "belongs to another program" in lines[0]
    assert "Traceback" not in result.stderr
    assert db.read_bytes() == before
    assert not Path(f"{db}-wal").exists()


# -- 8.10: what memhub creates is private ------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_and_directories_memhub_creates_are_private_even_with_umask_022(tmp_path):
    data = tmp_path / "fresh" / "data"
    db = data / "m.db"
    code = (
        "import os, runpy, sys; os.umask(0o022); "
        f"sys.argv = ['memhub', 'serve', '--db', {str(db)!r}]; "
        "runpy.run_module('memhub', run_name='__main__')"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env=daemon_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        info = wait_until_ready(db, proc, 60)
        trio.run(store_many, info, "private", 2)
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), runtime_paths(db).log):
            assert mode(path) == 0o600, f"{path} is {oct(mode(path))}"
        assert mode(data) == 0o700
        assert mode(data.parent) == 0o700
    finally:
        stop_process(proc)


def test_existing_files_keep_their_modes(tmp_path):
    db = tmp_path / "m.db"
    with running_daemon(db):
        pass
    db.chmod(0o640)
    with running_daemon(db) as (_proc, info):
        trio.run(store_many, info, "kept", 1)
        assert mode(db) == 0o640
        assert mode(Path(f"{db}-wal")) == 0o640


def test_a_spawned_daemons_log_is_private(tmp_path):
    from memhub.discovery import spawn_daemon

    db = tmp_path / "m.db"
    log = runtime_paths(db).log
    child = spawn_daemon(db, log, daemon_env())
    try:
        wait_until_ready(db, child, 60)
        assert mode(log) == 0o600
    finally:
        child.send_signal(signal.SIGTERM)
        assert child.wait(30) == 0


__all__ = ["apsw"]
