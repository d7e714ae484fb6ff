"""The stress worker's protocol driver across a daemon kill: it reconnects, also when the caller
runs it under a timeout, and closes the old connection.

The old driver entered every client on the worker's exit stack: a reconnect inside any cancel
scope of the caller corrupted trio's cancel-scope stack, and every lost client's nursery and
tasks stayed alive until the worker ended.
"""

from __future__ import annotations

import os
import signal
from contextlib import AsyncExitStack
from typing import Any

import psutil
import trio

from memhub.stress.worker import Lost, ProtocolDriver
from tests.daemon.helpers import start_daemon, stop_process, wait_for_runtime


def close_wait_sockets() -> list[Any]:
    return [
        c
        for c in psutil.Process().net_connections(kind="tcp")
        if c.status == psutil.CONN_CLOSE_WAIT
    ]


async def test_the_driver_reconnects_after_a_kill_inside_a_caller_timeout_and_closes_the_old_one(
    tmp_path,
):
    db = tmp_path / "m.db"
    first = start_daemon(db)
    second = None
    try:
        wait_for_runtime(db, first)
        async with AsyncExitStack() as stack:
            driver = await ProtocolDriver.open(db, "reconnect-test", stack)
            outcome, _ = await driver.store("before the kill", ())
            assert outcome == "ok"
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
            second = start_daemon(db)
            wait_for_runtime(db, second)
            with trio.fail_after(60):
                while True:
                    try:
                        outcome, _ = await driver.store("after the kill", ())
                        break
                    except Lost:
                        continue  # the call that met the dead connection
            assert outcome == "ok"
            await trio.sleep(0.5)  # the old connection's task closes it in the background
            assert close_wait_sockets() == []
    finally:
        stop_process(first)
        if second is not None:
            stop_process(second)
