"""DaemonLink's discovery, auto-start and retry logic against fake runtime files and clients.

A scripted :class:`~memhub.discovery.Discovery` stands in for the machine so that every path (stale
file, refused token, lost connection, failed start) can be forced deterministically; the
integration tests drive the same code against real ``memhub serve`` processes.
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import attrs
import pytest
import trio

from memhub import PROTOCOL_VERSION
from memhub.config import RuntimePaths, StoreRef, runtime_paths
from memhub.discovery import log_tail, pid_alive
from memhub.errors import ProtocolMismatch, Unauthorized, Unavailable
from memhub.mcp_bridge.connection import DaemonLink, LinkSettings
from memhub.protocol import messages as m

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

WELCOME = m.Welcome(
    id=0,
    protocol=PROTOCOL_VERSION,
    server_version="test",
    store="",
    engine="sqlite",
    machine="test",
    pid=0,
    schema="v12",
    embedder="hash:v1",
    embedding_dim=8,
)


@attrs.define
class Info:
    pid: int
    host: str = "127.0.0.1"
    port: int = 1
    token: str = "tok"


@attrs.define
class World:
    """The fake machine: which daemon runs, what its files say, what happens to calls."""

    info: Info | None = None
    lock: bool = False
    alive: set[int] = attrs.field(factory=set)
    token: str = "tok"
    drop_next_call_after_send: bool = False
    executed: list[m.Request] = attrs.field(factory=list)
    spawns: int = 0
    spawn_exit: int | None = None  # exit code of spawned children; None = they start a daemon
    killed_while_starting: int = 0  # the next N spawned children die by SIGKILL before serving
    next_pid: int = 100
    opened: int = 0
    daemon_protocol: int = PROTOCOL_VERSION  # what the running daemon speaks
    retired: int = 0

    def start_daemon(self) -> None:
        self.next_pid += 1
        self.info = Info(pid=self.next_pid, port=self.next_pid, token=f"tok{self.next_pid}")
        self.token = self.info.token
        self.alive.add(self.next_pid)
        self.lock = True

    def kill_daemon(self) -> None:
        assert self.info is not None
        self.alive.discard(self.info.pid)
        self.lock = False


class FakeChild:
    """A spawned ``memhub serve``: exits with ``code``, or runs as daemon ``pid`` until killed."""

    def __init__(self, world: World, code: int | None, pid: int | None) -> None:
        self.world, self.code, self.pid = world, code, pid
        self.returncode: int | None = code

    def poll(self) -> int | None:
        if self.code is None and self.pid is not None and self.pid not in self.world.alive:
            self.returncode = -9
        return self.returncode


class FakeClient:
    def __init__(self, world: World, pid: int) -> None:
        self.world, self.pid = world, pid
        self.welcome = attrs.evolve(WELCOME, pid=pid)

    async def call(self, request: m.Request) -> m.Reply:
        await trio.lowlevel.checkpoint()
        w = self.world
        if self.pid not in w.alive:
            raise Unavailable("connection lost")
        w.executed.append(request)
        if w.drop_next_call_after_send:
            w.drop_next_call_after_send = False
            w.kill_daemon()
            raise Unavailable("connection lost")
        return m.Ok(id=1)


@attrs.define
class FakeDiscovery:
    """The :class:`~memhub.discovery.Discovery` seam, scripted by the :class:`World`."""

    world: World
    db: str = ""
    names: list[str] = attrs.field(factory=list)

    def paths(self, db_path: Path) -> RuntimePaths:
        self.db = str(db_path)
        return runtime_paths(db_path)

    def read_runtime(self, path: Path) -> Any:
        return self.world.info

    def lock_held(self, path: Path) -> bool:
        return self.world.lock

    def pid_alive(self, pid: int) -> bool:
        return pid in self.world.alive

    def spawn(self, store: str, log_path: Path) -> FakeChild:
        w = self.world
        w.spawns += 1
        if w.killed_while_starting:
            w.killed_while_starting -= 1
            return FakeChild(w, -9, None)
        if w.spawn_exit is None and not w.lock:
            w.start_daemon()
            return FakeChild(w, None, w.next_pid)
        return FakeChild(w, w.spawn_exit if w.spawn_exit is not None else EXIT_LOST, None)

    @asynccontextmanager
    async def connect(self, info: Any, client_name: str) -> AsyncIterator[FakeClient]:
        await trio.lowlevel.checkpoint()
        w = self.world
        assert w.info is not None
        if w.info.pid not in w.alive:
            raise OSError("connection refused")
        if info.token != w.token:
            raise Unauthorized("bad token")
        w.opened += 1
        self.names.append(client_name)
        client = FakeClient(w, w.info.pid)
        if w.daemon_protocol < PROTOCOL_VERSION:
            raise ProtocolMismatch(
                "this daemon speaks memhub protocol 1",
                detail={"server_protocol": w.daemon_protocol, "client_protocol": PROTOCOL_VERSION},
            )
        client.welcome = attrs.evolve(client.welcome, store=self.db)
        yield client

    async def retire(self, store: StoreRef) -> bool:
        await trio.lowlevel.checkpoint()
        w = self.world
        w.retired += 1
        w.daemon_protocol = PROTOCOL_VERSION  # the next daemon is this memhub's
        w.kill_daemon()
        return True


@pytest.fixture
def world() -> World:
    return World()


def link(world: World, settings: LinkSettings, nursery: trio.Nursery) -> DaemonLink:
    return DaemonLink(settings, nursery, FakeDiscovery(world))


EXIT_LOST = 3


def settings(tmp_path: Path, **kw: Any) -> LinkSettings:
    return LinkSettings(db_path=tmp_path / "m.db", start_timeout_s=5.0, call_timeout_s=5.0, **kw)


async def test_attaches_to_a_running_daemon(world: World, tmp_path: Path) -> None:
    world.start_daemon()
    async with trio.open_nursery() as nursery:
        bridge = link(world, settings(tmp_path), nursery)
        delivery = await bridge.call(m.Health(id=0))
        assert delivery.reply == m.Ok(id=1)
        assert not delivery.ambiguous
        assert world.spawns == 0
        await bridge.call(m.Health(id=0))
        assert world.opened == 1
        assert bridge.statistics().connects == 1
        bridge.close()


async def test_a_daemon_of_an_older_memhub_is_retired_and_replaced(
    world: World, tmp_path: Path
) -> None:
    world.start_daemon()
    world.daemon_protocol = 1  # left running by the memhub before an upgrade
    async with trio.open_nursery() as nursery:
        bridge = link(world, settings(tmp_path), nursery)
        delivery = await bridge.call(m.Health(id=0))
        assert delivery.error is None
        assert delivery.reply == m.Ok(id=1)
        assert world.retired == 1
        assert world.spawns == 1  # this memhub's daemon took over
        bridge.close()


async def test_starts_a_daemon_when_none_holds_the_lock(world: World, tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        bridge = link(world, settings(tmp_path), nursery)
        delivery = await bridge.call(m.Health(id=0))
        assert delivery.error is None
        assert world.spawns == 1
        bridge.close()


async def test_stale_runtime_file_is_ignored(world: World, tmp_path: Path) -> None:
    world.info = Info(pid=7)  # dead pid, lock free: a crashed daemon's leftovers
    async with trio.open_nursery() as nursery:
        bridge = link(world, settings(tmp_path), nursery)
        assert (await bridge.call(m.Health(id=0))).error is None
        assert world.spawns == 1
        assert world.info is not None
        assert world.info.pid != 7
        bridge.close()


async def test_refused_token_waits_for_the_fresh_file(world: World, tmp_path: Path) -> None:
    world.start_daemon()
    world.token = "rotated"  # the daemon restarted; its new file is not written yet

    async def rewrite() -> None:
        await trio.sleep(0.3)
        assert world.info is not None
        world.info = Info(pid=world.info.pid, token="rotated")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(rewrite)
        bridge = link(world, settings(tmp_path), nursery)
        assert (await bridge.call(m.Health(id=0))).error is None
        assert world.spawns == 0
        bridge.close()


async def test_lost_connection_reconnects_restarts_and_retries(
    world: World, tmp_path: Path
) -> None:
    world.start_daemon()
    async with trio.open_nursery() as nursery:
        bridge = link(world, settings(tmp_path), nursery)
        assert (await bridge.call(m.Health(id=0))).error is None
        world.drop_next_call_after_send = True
        store = m.Store(id=0, content="x")
        delivery = await bridge.call(store)
        assert delivery.error is None
        assert delivery.ambiguous  # the first attempt reached the daemon before it died
        assert world.executed.count(store) == 2
        assert world.spawns == 1
        bridge.close()


async def test_our_daemon_killed_later_is_restarted_not_reported(
    world: World, tmp_path: Path
) -> None:
    async with trio.open_nursery() as nursery:
        bridge = link(world, settings(tmp_path), nursery)
        assert (await bridge.call(m.Health(id=0))).error is None  # spawns daemon 1
        world.kill_daemon()  # kill -9: our own child dies with -9 after it served us
        delivery = await bridge.call(m.Health(id=0))
        assert delivery.error is None
        assert world.spawns == 2
        bridge.close()


async def test_failed_start_reports_the_log_tail(world: World, tmp_path: Path) -> None:
    world.spawn_exit = 1
    log = tmp_path / "m.db.memhub.log"
    log.write_text("starting\nStartupError: model all-MiniLM-L6-v2 not found\n")
    async with trio.open_nursery() as nursery:
        bridge = link(world, settings(tmp_path), nursery)
        with trio.fail_after(3):
            delivery = await bridge.call(m.Health(id=0))
        assert isinstance(delivery.error, Unavailable)
        text = delivery.error.message
        assert str(tmp_path / "m.db") in text
        assert str(log) in text
        assert "exited with code 1" in text
        assert "model all-MiniLM-L6-v2 not found" in text
        assert "memhub serve --db" in text
        bridge.close()


async def test_gives_up_after_the_start_timeout(world: World, tmp_path: Path) -> None:
    world.lock = True  # some daemon holds the lock but never becomes ready
    async with trio.open_nursery() as nursery:
        bridge = DaemonLink(
            LinkSettings(db_path=tmp_path / "m.db", start_timeout_s=1.0, call_timeout_s=1.0),
            nursery,
            FakeDiscovery(world),
        )
        with trio.fail_after(4):
            delivery = await bridge.call(m.Health(id=0))
        assert isinstance(delivery.error, Unavailable)
        assert "gave up after 1 s" in delivery.error.message
        assert world.spawns == 0
        bridge.close()


async def test_losers_of_the_lock_race_are_not_errors(world: World, tmp_path: Path) -> None:
    world.spawn_exit = 3  # another bridge's daemon won the flock

    async def winner() -> None:
        await trio.sleep(0.3)
        world.start_daemon()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(winner)
        bridge = link(world, settings(tmp_path), nursery)
        assert (await bridge.call(m.Health(id=0))).error is None
        bridge.close()


def test_log_tail_and_pid_alive(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    assert log_tail(log) == ""
    log.write_text("a\n\nb\nc\n")
    assert log_tail(log, 2) == "b\nc"
    assert pid_alive(os.getpid())
    assert not pid_alive(0)


async def test_a_daemon_killed_while_starting_is_started_again(
    world: World, tmp_path: Path
) -> None:
    # Issue 8.4: a child killed by a signal is a crash to recover from, not a final failure.
    world.killed_while_starting = 2
    async with trio.open_nursery() as nursery:
        bridge = link(world, settings(tmp_path), nursery)
        with trio.fail_after(8):
            delivery = await bridge.call(m.Store(id=0, content="x"))
        assert delivery.error is None
        assert world.spawns == 3
        bridge.close()


async def test_the_link_takes_its_mcp_clients_name_and_reconnects_under_it(
    world: World, tmp_path: Path
) -> None:
    world.start_daemon()
    discovery = FakeDiscovery(world)
    async with trio.open_nursery() as nursery:
        bridge = DaemonLink(settings(tmp_path), nursery, discovery)
        assert (await bridge.call(m.Health(id=0))).error is None
        bridge.adopt_client_name("claude-code\n")
        bridge.adopt_client_name("claude-code")  # the same name again: no reconnect
        assert (await bridge.call(m.Health(id=0))).error is None
        assert (await bridge.call(m.Health(id=0))).error is None
        assert discovery.names == ["memhub-bridge", "claude-code"]
        bridge.close()
