"""A daemon serves while its vector mirror loads: the engine's exact scan answers meanwhile.

A store of a million memories takes seconds to read into RAM; a Claude app's first search must
not wait for that. Here the load is held back on purpose (the real engine's ``load_mirror``
waits for the test's signal) so that every request provably runs before it, then after it.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest
import trio

from memhub.credentials import Caller
from memhub.daemon import DaemonHandle, run_daemon
from memhub.errors import DatabaseError, Duplicate
from memhub.protocol import messages as m
from memhub.storage.sqlite.engine import SqliteStorage
from memhub.storage.sqlite.feed import SqliteCursor

from .conftest import InProcess, service_settings


async def _fill(settings_path: Path, count: int) -> None:
    settings = service_settings(settings_path)
    async with trio.open_nursery() as nursery:
        handle: DaemonHandle = await nursery.start(
            lambda task_status: run_daemon(settings, write_runtime=False, task_status=task_status)
        )
        daemon = InProcess(handle, Caller(name="tests", kind="token"))
        for i in range(count):
            words = hashlib.sha256(str(i).encode()).hexdigest()
            text = " ".join(words[j : j + 6] for j in range(0, 48, 6))
            await daemon.call(m.Store(id=0, content=text, tags=["t"]))
        handle.stop()


async def _hits(daemon: InProcess, query: str) -> list[tuple[str, float]]:
    reply = await daemon.call(m.Search(id=0, query=query, limit=5))
    assert isinstance(reply, m.SearchResult)
    return [(hit.memory.content_hash, round(hit.score, 5)) for hit in reply.hits]


async def test_searches_and_writes_are_served_before_the_mirror_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _fill(tmp_path, 60)
    release = threading.Event()
    load = SqliteStorage.load_mirror

    def held_back(self: SqliteStorage) -> SqliteCursor:
        release.wait(30)
        return load(self)

    monkeypatch.setattr(SqliteStorage, "load_mirror", held_back)
    settings = service_settings(tmp_path)
    async with trio.open_nursery() as nursery:
        handle: DaemonHandle = await nursery.start(
            lambda task_status: run_daemon(settings, write_runtime=False, task_status=task_status)
        )
        daemon = InProcess(handle, Caller(name="tests", kind="token"))
        mirror = daemon.service.storage.mirror
        assert mirror is not None
        assert not mirror.loaded

        before = await _hits(daemon, "a question about anything")
        assert len(before) == 5
        stored = await daemon.call(m.Store(id=0, content="stored while the mirror loads"))
        assert isinstance(stored, m.Stored)
        found = await _hits(daemon, "stored while the mirror loads")
        assert found[0][0] == stored.content_hash
        with pytest.raises(Duplicate):  # semantic dedup has its exact path too
            await daemon.call(m.Store(id=0, content="stored while the mirror loads!"))
        assert not mirror.loaded  # all of the above ran on the engine's own scan
        assert daemon.service.follower.counts.by_store is None  # the count waits for the load

        release.set()
        with trio.fail_after(30):
            await daemon.service.follower.caught_up()
        assert mirror.loaded
        assert len(mirror) == 61  # the write made during the load reached the mirror too
        assert await _hits(daemon, "a question about anything") == before
        assert (await _hits(daemon, "stored while the mirror loads"))[0] == found[0]
        # Once loaded, the store is counted in the background, without a request asking.
        counts = daemon.service.follower.counts
        with trio.fail_after(30):
            # a plain attribute the daemon's task sets: nothing to wait on but time
            while counts.by_store is None:  # noqa: ASYNC110
                await trio.sleep(0.01)
        assert counts.recounts == 1
        assert counts.by_store["default"].memories == 61
        handle.stop()


async def test_a_failed_mirror_load_is_retried_while_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _fill(tmp_path, 12)
    attempts: list[int] = []
    load = SqliteStorage.load_mirror

    def fails_once(self: SqliteStorage) -> SqliteCursor:
        attempts.append(1)
        if len(attempts) == 1:
            raise DatabaseError("the disk hiccuped while reading the vectors")
        return load(self)

    monkeypatch.setattr(SqliteStorage, "load_mirror", fails_once)
    settings = service_settings(tmp_path)
    async with trio.open_nursery() as nursery:
        handle: DaemonHandle = await nursery.start(
            lambda task_status: run_daemon(settings, write_runtime=False, task_status=task_status)
        )
        daemon = InProcess(handle, Caller(name="tests", kind="token"))
        assert len(await _hits(daemon, "anything at all")) == 5  # served on the engine's scan
        mirror = daemon.service.storage.mirror
        with trio.fail_after(30):
            await daemon.service.follower.loaded.wait()
        assert len(attempts) == 2
        assert mirror.loaded
        assert len(mirror) == 12
        handle.stop()
