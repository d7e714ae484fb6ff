"""A slow query hits its deadline; the other readers keep answering meanwhile."""

from __future__ import annotations

import threading

import pytest
import trio

from memhub.actors.reader import ReaderPool
from memhub.errors import QueryTimeout

from .helpers import conn_of, open_rw, plain_reader

SLOW = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c"


async def test_slow_query_times_out_without_stalling_others(tmp_path, nursery):
    path = tmp_path / "r.db"
    conn = open_rw(path)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (42)")
    pool = ReaderPool(
        plain_reader(path, {"busy_timeout": "5000", "journal_mode": "WAL"}),
        readers=2,
        query_timeout_s=1.0,
    )
    await nursery.start(pool.run)
    outcome: list[BaseException] = []

    async def slow() -> None:
        try:
            await pool.submit(lambda s: conn_of(s).execute(SLOW).fetchall())
        except QueryTimeout as exc:
            outcome.append(exc)

    async with trio.open_nursery() as inner:
        inner.start_soon(slow)
        await trio.sleep(0.1)
        fast_latencies = []
        for _ in range(20):
            started = trio.current_time()
            rows = await pool.submit(lambda s: conn_of(s).execute("SELECT x FROM t").fetchall())
            fast_latencies.append(trio.current_time() - started)
            assert rows == [(42,)]
        assert not outcome, "the fast queries should all have finished before the deadline"
    assert len(outcome) == 1
    assert "MEMHUB_QUERY_TIMEOUT" in str(outcome[0])
    assert max(fast_latencies) < 0.5
    assert pool.timeouts == 1
    # the reader that hit the deadline serves again
    assert await pool.submit(lambda s: conn_of(s).execute("SELECT x FROM t").fetchall()) == [(42,)]
    pool.close()
    conn.close()


async def test_reader_cannot_write(tmp_path, nursery):
    from memhub.errors import DatabaseError

    path = tmp_path / "ro.db"
    conn = open_rw(path)
    conn.execute("CREATE TABLE t (x)")
    pool = ReaderPool(plain_reader(path, {"busy_timeout": "5000"}), readers=1, query_timeout_s=5)
    await nursery.start(pool.run)
    with pytest.raises(DatabaseError, match=r"readonly|read-only|query_only"):
        await pool.submit(lambda s: conn_of(s).execute("INSERT INTO t VALUES (1)"))
    pool.close()
    conn.close()


async def test_a_read_with_its_own_timeout_outlives_the_pools(tmp_path, nursery):
    """The daemon's own full count passes ``timeout_s``: the pool's deadline does not cut it,
    and its own still does."""
    path = tmp_path / "r.db"
    open_rw(path).close()
    pool = ReaderPool(plain_reader(path, {"busy_timeout": "5000"}), readers=1, query_timeout_s=0.1)
    await nursery.start(pool.run)
    counting = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) "
        "SELECT COUNT(*) FROM c"
    )
    probe = 100_000
    started = trio.current_time()
    await pool.submit(
        lambda s: conn_of(s).execute(counting.format(n=probe)).fetchall(), timeout_s=60
    )
    took = max(trio.current_time() - started, 1e-4)
    big = int(probe * max(1.0, 1.0 / took))  # a second of work here: ten times the deadline
    query = counting.format(n=big)
    with pytest.raises(QueryTimeout):
        await pool.submit(lambda s: conn_of(s).execute(query).fetchall())
    rows = await pool.submit(lambda s: conn_of(s).execute(query).fetchall(), timeout_s=60)
    assert rows == [(big,)]
    with pytest.raises(QueryTimeout) as stopped:
        await pool.submit(lambda s: conn_of(s).execute(SLOW).fetchall(), timeout_s=0.3)
    assert "0.3 s" in str(stopped.value)
    pool.close()


async def test_a_stop_interrupts_a_long_read_after_its_grace(tmp_path, nursery):
    """A stop waits ``grace_s`` for the reads in progress, then interrupts what still runs
    (the daemon's own full count has a deadline of minutes; a stop must not wait for it)."""
    path = tmp_path / "r.db"
    open_rw(path).close()
    pool = ReaderPool(plain_reader(path, {"busy_timeout": "5000"}), readers=1, query_timeout_s=5)
    await nursery.start(pool.run)
    stopped: list[BaseException] = []
    running = threading.Event()

    def endless(s):
        running.set()
        return conn_of(s).execute(SLOW).fetchall()

    async def long_read() -> None:
        try:
            await pool.submit(endless, timeout_s=600)
        except QueryTimeout as exc:
            stopped.append(exc)

    async with trio.open_nursery() as inner:
        inner.start_soon(long_read)
        await trio.to_thread.run_sync(running.wait, 10)  # the read runs on the reader's thread
        began = trio.current_time()
        with trio.fail_after(10):
            await pool.stop(0.2)
    assert len(stopped) == 1
    assert trio.current_time() - began < 5
