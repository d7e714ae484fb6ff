"""Real daemons on a real PostgreSQL server: one store that several machines share.

Each "machine" is a ``memhub serve`` process with its own HOME, state directory and name; they
meet only in the server. Whatever one acknowledges, the others see, in commit order, once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trio

from memhub.config import resolve_store
from memhub.discovery import RuntimeInfo, wait_until_ready
from memhub.protocol import messages as m
from memhub.transport.client import open_daemon_client
from tests.daemon.helpers import daemon_env, stop_process
from tests.pgserver import PgServer
from tests.storage.engines import prepare_team_store


def machine_env(base: Path, name: str, url: str) -> dict[str, str]:
    home = base / name
    home.mkdir(parents=True, exist_ok=True)
    return daemon_env(
        {
            "HOME": str(home),
            "MEMHUB_STATE_DIR": str(home / "state"),
            "MEMHUB_MACHINE_NAME": name,
            "MEMHUB_DATABASE_URL": url,
        }
    )


@contextmanager
def machine(base: Path, name: str, url: str) -> Iterator[RuntimeInfo]:
    env = machine_env(base, name, url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "memhub", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    anchor = resolve_store(env).db_path
    try:
        previous = os.environ.get("MEMHUB_STATE_DIR")
        os.environ["MEMHUB_STATE_DIR"] = env["MEMHUB_STATE_DIR"]
        try:
            info = wait_until_ready(anchor, proc, timeout=60)
        finally:
            if previous is None:
                os.environ.pop("MEMHUB_STATE_DIR")
            else:
                os.environ["MEMHUB_STATE_DIR"] = previous
        yield info
    finally:
        code = stop_process(proc)
        assert code == 0, f"machine {name} exited with {code}"


@pytest.fixture
def team_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh team store of its own for each test that asks (dropped afterwards)."""
    name = f"team_{uuid.uuid4().hex[:12]}"
    pg_server.create_database(name, vector=False)
    url = pg_server.passwordless_url(dbname=name)
    prepare_team_store(url)
    yield url
    pg_server.drop_database(name)


def test_an_acked_write_on_one_machine_reaches_every_machine_in_commit_order(tmp_path, team_url):
    with machine(tmp_path, "laptop", team_url) as a, machine(tmp_path, "desktop", team_url) as b:

        async def scenario() -> None:
            async with (
                open_daemon_client(a.url, a.token, client_name="claude-code") as on_a,
                open_daemon_client(b.url, b.token, client_name="cursor") as on_b,
            ):
                seen: dict[str, list[m.Event]] = {"laptop": [], "desktop": []}

                async def watch(events: trio.MemoryReceiveChannel[m.Event], where: str) -> None:
                    async for event in events:
                        seen[where].append(event)
                        if len(seen[where]) == 4:
                            return

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(watch, await on_a.subscribe(), "laptop")
                    nursery.start_soon(watch, await on_b.subscribe(), "desktop")
                    with trio.fail_after(20):
                        first = await on_a.call(m.Store(id=0, content="decided: ship on fridays"))
                        assert isinstance(first, m.Stored)
                        await on_b.call(m.Store(id=0, content="the staging db moved to pg18"))
                        dup = None
                        try:
                            await on_b.call(m.Store(id=0, content="Decided: ship on Fridays"))
                        except Exception as exc:
                            dup = exc
                        assert dup is not None
                        assert "Duplicate" in str(dup)
                        await on_a.call(
                            m.Update(id=0, content_hash=first.content_hash, tags=["ops"])
                        )
                        await on_b.call(m.Delete(id=0, content_hash=first.content_hash))
                found = await on_b.call(m.Search(id=0, query="staging database", limit=5))
                assert isinstance(found, m.SearchResult)
                assert found.hits[0].memory.content == "the staging db moved to pg18"
                for where in ("laptop", "desktop"):
                    kinds = [(e.kind, e.origin, e.client) for e in seen[where]]
                    assert kinds == [
                        ("stored", "laptop", "claude-code"),
                        ("stored", "desktop", "cursor"),
                        ("updated", "laptop", "claude-code"),
                        ("deleted", "desktop", "cursor"),
                    ], where

        trio.run(scenario)
