"""Upgrades while apps stay open: the previous release's code against this one's, both ways.

The previous release (memhub 0.1.0, protocol 1) is installed from this repository's history
(:mod:`tests.compat.previous_release`). Its bridge, a Claude app left open across the upgrade,
must keep working against the new daemon, tool for tool; a new bridge that meets the old daemon
must replace it without losing an acknowledged write; each CLI must understand the other's daemon.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
import trio
from mcp import Client, StdioServerParameters

from memhub.discovery import read_runtime_file, serving_paths
from tests.compat.previous_release import previous_memhub
from tests.daemon.helpers import assert_consistent, daemon_env, daemon_process, stop_process
from tests.mcp_bridge.e2e import bridge_env, call_ok, open_bridge

pytestmark = pytest.mark.compat

#: Every core tool, with arguments whose answers must not be errors.
SESSION: list[tuple[str, dict[str, Any]]] = [
    ("memory_store", {"content": "the old bridge still stores", "metadata": {"tags": "upgrade"}}),
    ("memory_search", {"query": "old bridge", "n_results": 3}),
    ("memory_list", {"page": 1, "page_size": 5}),
    ("memory_store_session", {"turns": [{"role": "user", "content": "hello after upgrade"}]}),
    ("memory_health", {}),
    ("memory_stats", {}),
    ("memory_cleanup", {}),
]


def old_bridge(db: Path) -> StdioServerParameters:
    return StdioServerParameters(
        command=str(previous_memhub()), args=["bridge"], env=bridge_env(db)
    )


async def test_a_bridge_of_the_previous_release_uses_the_new_daemon_for_every_tool(tmp_path):
    db = tmp_path / "m.db"
    async with daemon_process(db) as (proc, _):
        with trio.fail_after(120):
            async with Client(old_bridge(db), mode="legacy") as client:
                texts = {name: await call_ok(client, name, args) for name, args in SESSION}
                stored = texts["memory_store"]
                content_hash = stored.split("hash: ")[1].rstrip(")")
                await call_ok(
                    client,
                    "memory_update",
                    {"content_hash": content_hash, "updates": {"tags": ["upgraded"]}},
                )
                await call_ok(client, "memory_delete", {"content_hash": content_hash})
        assert "Memory stored successfully" in stored
        assert json.loads(texts["memory_health"].split("\n", 1)[1])["validation"]["status"] == (
            "healthy"
        )
        info = read_runtime_file(serving_paths(db).runtime)
        assert info is not None
        assert info.pid == proc.pid  # the old bridge attached; it did not start a daemon


def test_the_previous_releases_cli_reads_the_new_daemon(tmp_path):
    db = tmp_path / "m.db"
    old = str(previous_memhub())

    async def body() -> None:
        async with daemon_process(db) as (proc, _):
            status = await trio.to_thread.run_sync(
                lambda: subprocess.run(
                    [old, "status", "--db", str(db), "--json"],
                    env=daemon_env(),
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
            )
            assert status.returncode == 0, status.stderr
            assert json.loads(status.stdout)["pid"] == proc.pid
            link = await trio.to_thread.run_sync(
                lambda: subprocess.run(
                    [old, "ui", "--db", str(db), "--print-url"],
                    env=daemon_env(),
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
            )
            assert link.returncode == 0, link.stderr
            assert "#ticket=ticket-" in link.stdout

    trio.run(body)


# A client of the previous release that fires stores at its daemon and records which were acked.
_OLD_WRITER = textwrap.dedent(
    """
    import json, sys, trio
    from memhub.protocol import messages as m
    from memhub.transport.client import open_daemon_client

    url, token, out, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    acked = []

    async def one(client, i):
        try:
            reply = await client.call(m.Store(id=0, content=f"queued before the upgrade {i}"))
        except Exception:
            return
        acked.append(reply.content_hash)

    async def main():
        try:
            async with open_daemon_client(url, token, client_name="old-writer") as client:
                print("connected", flush=True)
                async with trio.open_nursery() as nursery:
                    for i in range(n):
                        nursery.start_soon(one, client, i)
                        await trio.sleep(0.01)
        except Exception:
            pass
        with open(out, "w") as f:
            json.dump(acked, f)

    trio.run(main)
    """
)


async def test_a_new_bridge_retires_the_old_daemon_and_no_acked_write_is_lost(tmp_path):
    db = tmp_path / "m.db"
    old = previous_memhub()
    old_python = old.parent / "python"
    old_daemon = subprocess.Popen(  # noqa: ASYNC220 - started once, waited for below
        [str(old), "serve", "--db", str(db)],
        env=daemon_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        with trio.fail_after(60):
            # Another process writes the file: there is no event to wait on, only the file.
            while (info := read_runtime_file(serving_paths(db).runtime)) is None:  # noqa: ASYNC110
                await trio.sleep(0.05)
        assert info.protocol == 1
        acked_file = tmp_path / f"acked-{uuid.uuid4().hex}.json"
        writer = subprocess.Popen(  # noqa: ASYNC220 - the old client, run to completion
            [str(old_python), "-c", _OLD_WRITER, info.url, info.token, str(acked_file), "300"],
            env=daemon_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == b"connected"
        with trio.fail_after(120):
            async with open_bridge(db) as client:  # this checkout's bridge
                health = await call_ok(client, "memory_health")
                stored = await call_ok(client, "memory_store", {"content": "after the upgrade"})
        assert "Memory stored successfully" in stored
        assert '"status": "healthy"' in health
        assert await trio.to_thread.run_sync(lambda: old_daemon.wait(60)) == 0  # drained, then 0
        assert await trio.to_thread.run_sync(lambda: writer.wait(60)) == 0
        acked = json.loads(acked_file.read_text())
        assert acked, "the old writer got no store acknowledged before the handover"
        new = read_runtime_file(serving_paths(db).runtime)
        assert new is not None
        assert new.protocol == 2
        os.kill(new.pid, 15)
        with trio.fail_after(30):
            while read_runtime_file(serving_paths(db).runtime) is not None:  # noqa: ASYNC110
                await trio.sleep(0.05)
    finally:
        stop_process(old_daemon)
    state = assert_consistent(db)
    assert set(acked) <= set(state.active)


def test_the_new_cli_says_an_older_daemon_serves(tmp_path):
    db = tmp_path / "m.db"
    old = previous_memhub()
    old_daemon = subprocess.Popen(
        [str(old), "serve", "--db", str(db)], env=daemon_env(), stdout=subprocess.DEVNULL
    )
    try:
        import time

        deadline = time.monotonic() + 60
        while read_runtime_file(serving_paths(db).runtime) is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)  # a sync test: polling a file another process writes
        status = subprocess.run(
            [sys.executable, "-m", "memhub", "status", "--db", str(db)],
            env=daemon_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0, status.stderr
        assert "memhub 0.1.0" in status.stdout
        assert "older" in status.stdout
    finally:
        stop_process(old_daemon)
