"""Health tells the truth: a store that cannot take writes, or is damaged, is never "healthy"."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
import trio

from memhub.config import DEFAULT_PRAGMAS
from memhub.credentials import Caller
from memhub.daemon import DaemonHandle, run_daemon
from memhub.errors import DatabaseError
from memhub.protocol import messages as m

from .conftest import InProcess, service_settings


async def _health(daemon: InProcess) -> m.HealthReport:
    report = await daemon.call(m.Health(id=0))
    assert isinstance(report, m.HealthReport)
    return report


async def test_a_full_store_makes_health_unhealthy_and_says_it_is_full(tmp_path: Path):
    # SQLite's own "database or disk is full" (SQLITE_FULL), by capping the file's pages.
    pragmas = {**DEFAULT_PRAGMAS, "max_page_count": "400"}
    settings = attrs.evolve(service_settings(tmp_path, semantic_dedup=False), pragmas=pragmas)
    async with trio.open_nursery() as nursery:
        handle: DaemonHandle = await nursery.start(
            lambda task_status: run_daemon(settings, write_runtime=False, task_status=task_status)
        )
        daemon = InProcess(handle, Caller(name="tests", kind="token"))
        assert (await _health(daemon)).status == "healthy"

        async def fill() -> None:
            for i in range(2000):
                await daemon.call(m.Store(id=0, content=f"filling the disk {i} " + "x" * 400))

        with pytest.raises(DatabaseError, match="full"):
            await fill()
        report = await _health(daemon)
        assert report.status == "unhealthy"
        assert "full" in report.message
        handle.stop()


async def test_a_deleted_wal_makes_health_unhealthy_and_refuses_writes(daemon: InProcess):
    await daemon.call(m.Store(id=0, content="before the WAL went away"))
    wal = trio.Path(f"{daemon.service.settings.db_path}-wal")
    assert await wal.exists()
    await wal.unlink()
    with pytest.raises(DatabaseError, match="write-ahead log"):
        await daemon.call(m.Store(id=0, content="after the WAL went away"))
    report = await _health(daemon)
    assert report.status == "unhealthy"
    assert "-wal" in report.message


async def test_a_damaged_file_is_unhealthy_from_the_start(tmp_path: Path):
    settings = service_settings(tmp_path, semantic_dedup=False)
    async with trio.open_nursery() as nursery:
        handle: DaemonHandle = await nursery.start(
            lambda task_status: run_daemon(settings, write_runtime=False, task_status=task_status)
        )
        daemon = InProcess(handle, Caller(name="tests", kind="token"))
        for i in range(300):
            await daemon.call(m.Store(id=0, content=f"row {i} " + "y" * 300))
        handle.stop()
    # Scramble the cells of an index leaf page (not the schema page): the file still opens,
    # but its structure no longer adds up.
    db = settings.db_path
    data = bytearray(db.read_bytes())
    page = 4096
    leaves = [n for n in range(1, len(data) // page) if data[n * page] == 0x0A]  # index leaf
    assert leaves, "no index leaf page to damage"
    start = leaves[-1] * page
    for offset in range(start + 8, start + page):
        data[offset] = 0xA5
    db.write_bytes(bytes(data))
    async with trio.open_nursery() as nursery:
        handle = await nursery.start(
            lambda task_status: run_daemon(settings, write_runtime=False, task_status=task_status)
        )
        daemon = InProcess(handle, Caller(name="tests", kind="token"))
        with trio.fail_after(30):
            await daemon.service.health_reporter.integrity_checked.wait()
        report = await _health(daemon)
        assert report.status == "unhealthy"
        assert "integrity" in report.message
        handle.stop()
