"""The daemon as users run it: real ``memhub serve`` processes, real sockets, real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import trio
import trio_websocket

from memhub import PROTOCOL_VERSION
from memhub.config import runtime_paths
from memhub.discovery import RuntimeInfo, read_runtime_file
from memhub.errors import Duplicate, Unauthorized
from memhub.protocol import messages as m
from memhub.transport.client import open_daemon_client

from .helpers import (
    assert_consistent,
    daemon_env,
    daemon_process,
    db_state,
    hold_write_lock,
    running_daemon,
    start_daemon,
    stop_process,
    wait_for_runtime,
)

WORKER = str(Path(__file__).with_name("client_worker.py"))


def url(info: RuntimeInfo) -> str:
    return info.url


def run_workers(info, specs: list[tuple[int, str]]) -> list[dict[str, Any]]:
    procs = [
        subprocess.Popen(
            [sys.executable, WORKER, url(info), info.token, str(n), prefix],
            stdout=subprocess.PIPE,
            env=daemon_env(),
        )
        for n, prefix in specs
    ]
    results: list[dict[str, Any]] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        results.extend(json.loads(line) for line in out.decode().splitlines())
    return results


def test_concurrent_stores_from_several_processes_commit_exactly_once(tmp_path):
    db = tmp_path / "multi.db"
    with running_daemon(db) as (_, info):
        results = run_workers(info, [(60, f"client{i}") for i in range(5)])
    assert len(results) == 300
    assert all(r["ok"] for r in results)
    state = assert_consistent(db)
    assert set(state.active) == {r["hash"] for r in results}


def test_duplicate_race_stores_once_and_reports_duplicate_to_the_rest(tmp_path):
    db = tmp_path / "race.db"
    with running_daemon(db) as (_, info):
        results = run_workers(info, [(1, "same") for _ in range(8)])
    stored = [r for r in results if r["ok"]]
    dupes = [r for r in results if not r["ok"]]
    assert len(stored) == 1
    assert len(dupes) == 7
    assert all(d["message"] == "Duplicate content detected (exact match)" for d in dupes)
    state = assert_consistent(db)
    assert len(state.active) == 1


async def test_readers_answer_while_another_process_holds_the_write_lock(tmp_path):
    db = tmp_path / "locked.db"
    async with daemon_process(db) as (_, info):
        async with open_daemon_client(url(info), info.token, client_name="t") as client:
            await client.call(m.Store(id=0, content="seed memory for searching", tags=["a"]))
            locker = hold_write_lock(db, 2.5)
            try:
                async with trio.open_nursery() as nursery:
                    stored: list[m.Stored] = []

                    async def store_while_locked() -> None:
                        reply = await client.call(m.Store(id=0, content="written during the lock"))
                        assert isinstance(reply, m.Stored)
                        stored.append(reply)

                    nursery.start_soon(store_while_locked)
                    started = trio.current_time()
                    for _ in range(5):
                        with trio.fail_after(1.0):
                            reply = await client.call(m.Search(id=0, query="seed memory", limit=3))
                        assert isinstance(reply, m.SearchResult)
                        assert reply.hits[0].memory.content == "seed memory for searching"
                    # all five searches finished while the lock was still held
                    assert trio.current_time() - started < 2.0
                    assert locker.poll() is None
            finally:
                locker.wait(10)
            assert locker.returncode == 0  # it committed and let go of the lock
            assert len(stored) == 1  # the store waited for the lock, then committed
            health = await client.call(m.Health(id=0))
            assert isinstance(health, m.HealthReport)
            assert health.writer.busy_failures == 0
    assert_consistent(db)


def test_kill_9_during_writes_loses_no_acked_store(tmp_path):
    db = tmp_path / "crash.db"
    proc = start_daemon(db)
    info = wait_for_runtime(db, proc)
    workers = [
        subprocess.Popen(
            [sys.executable, WORKER, url(info), info.token, "400", f"crash{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=daemon_env(),
        )
        for i in range(3)
    ]
    # Kill only once writes are flowing (slow machines take a while to start the clients).
    deadline = time.monotonic() + 60
    while len(db_state(db).active) < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    acked = set()
    for worker in workers:
        out, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0  # a lost daemon is recorded per store, not a crash
        for line in out.decode().splitlines():
            record = json.loads(line)
            if record["ok"]:
                acked.add(record["hash"])
    assert acked, "the daemon died before acknowledging anything; the test proves nothing"
    state = assert_consistent(db)
    assert acked <= set(state.active)
    # and the file is usable again: a new daemon starts and serves it
    with running_daemon(db):
        pass


def test_second_serve_on_the_same_file_refuses_cleanly(tmp_path):
    db = tmp_path / "one.db"
    with running_daemon(db) as (first, info):
        second = subprocess.run(
            [sys.executable, "-m", "memhub", "serve", "--db", str(db)],
            env=daemon_env(),
            capture_output=True,
            timeout=60,
        )
        assert second.returncode == 3
        message = second.stderr.decode().strip()
        assert message == (
            f"memhub: a daemon already serves {db.resolve()} (pid {info.pid}, port {info.port}); "
            "see `memhub status`"
        )
        assert read_runtime_file(runtime_paths(db.resolve()).runtime) == info
        assert first.poll() is None


def test_runtime_file_is_private_and_removed_on_graceful_stop(tmp_path):
    db = tmp_path / "private.db"
    proc = start_daemon(db)
    info = wait_for_runtime(db, proc)
    runtime = runtime_paths(db.resolve()).runtime
    assert runtime.stat().st_mode & 0o777 == 0o600
    assert info.pid == proc.pid
    assert stop_process(proc) == 0
    assert not runtime.exists()


def test_status_and_stop_commands(tmp_path):
    db = tmp_path / "cmds.db"
    memhub = [sys.executable, "-m", "memhub"]
    not_running = subprocess.run(
        [*memhub, "status", "--db", str(db)], env=daemon_env(), capture_output=True, timeout=60
    )
    assert not_running.returncode == 3
    proc = start_daemon(db)
    try:
        info = wait_for_runtime(db, proc)
        status = subprocess.run(
            [*memhub, "status", "--db", str(db), "--json"],
            env=daemon_env(),
            capture_output=True,
            timeout=60,
        )
        assert status.returncode == 0, status.stderr
        data = json.loads(status.stdout)
        assert data["pid"] == info.pid
        assert data["port"] == info.port
        assert data["db_path"] == str(db.resolve())
        assert data["protocol"] == PROTOCOL_VERSION
        assert data["memories"] == 0
        stop = subprocess.run(
            [*memhub, "stop", "--db", str(db)], env=daemon_env(), capture_output=True, timeout=90
        )
        assert stop.returncode == 0, stop.stderr
        assert proc.wait(30) == 0
    finally:
        stop_process(proc)


async def test_bad_token_and_bad_frames_are_rejected_and_daemon_stays_up(tmp_path):
    db = tmp_path / "frames.db"
    async with daemon_process(db) as (proc, info):
        with pytest.raises(Unauthorized):
            async with open_daemon_client(url(info), "not-the-token", client_name="t"):
                pass
        async with trio_websocket.open_websocket_url(url(info)) as ws:
            await ws.send_message(
                json.dumps(
                    {"type": "hello", "id": 1, "protocol": PROTOCOL_VERSION, "token": info.token}
                )
            )
            welcome = json.loads(await ws.get_message())
            assert welcome["type"] == "welcome"
            for frame, needle in [
                ("{not json", "invalid JSON"),
                ('{"type": "frobnicate", "id": 2}', "unknown message type"),
                ('{"type": "store", "id": 3, "content": 5}', "$.content"),
                ('{"type": "store", "id": 4, "content": "x", "tags": "a,b"}', "$.tags"),
                ('{"type": "store", "id": 5, "content": "x", "colour": "red"}', "colour"),
            ]:
                await ws.send_message(frame)
                reply = json.loads(await ws.get_message())
                assert reply["type"] == "error"
                assert reply["code"] == "bad_request"
                assert needle in reply["message"]
            await ws.send_message(json.dumps({"type": "store", "id": 6, "content": ""}))
            empty = json.loads(await ws.get_message())
            assert (empty["id"], empty["code"]) == (6, "bad_request")
            tags = [f"t{i}" for i in range(101)]
            await ws.send_message(
                json.dumps({"type": "store", "id": 7, "content": "x", "tags": tags})
            )
            too_many = json.loads(await ws.get_message())
            assert (too_many["id"], too_many["code"]) == (7, "too_large")
        async with open_daemon_client(url(info), info.token, client_name="t") as client:
            page = await client.call(m.ListMemories(id=0))
            assert isinstance(page, m.Page)
            assert page.total == 0  # nothing was written by any bad frame
        assert proc.poll() is None


async def test_subscriber_sees_changes_from_other_clients(tmp_path):
    db = tmp_path / "events.db"
    async with daemon_process(db) as (_, info):
        async with (
            open_daemon_client(url(info), info.token, client_name="ui") as ui,
            open_daemon_client(url(info), info.token, client_name="app") as app,
        ):
            events = await ui.subscribe()
            stored = await app.call(m.Store(id=0, content="an event worth seeing", tags=["x"]))
            assert isinstance(stored, m.Stored)
            await app.call(m.Update(id=0, content_hash=stored.content_hash, tags=["y"]))
            await app.call(m.Delete(id=0, content_hash=stored.content_hash))
            seen = []
            with trio.fail_after(10):
                async for event in events:
                    seen.append((event.kind, event.content_hash))
                    if len(seen) == 3:
                        break
            assert seen == [
                ("stored", stored.content_hash),
                ("updated", stored.content_hash),
                ("deleted", stored.content_hash),
            ]


async def test_duplicate_error_carries_the_existing_hash(tmp_path):
    db = tmp_path / "dup.db"
    async with daemon_process(db) as (_, info):
        async with open_daemon_client(url(info), info.token, client_name="t") as client:
            first = await client.call(m.Store(id=0, content="Remember the milk"))
            assert isinstance(first, m.Stored)
            with pytest.raises(Duplicate) as exc:
                await client.call(m.Store(id=0, content="  remember the MILK  "))
            assert exc.value.detail == {"content_hash": first.content_hash, "kind": "exact"}
