"""The daemon's life: open the store, start the actors, serve, and stop cleanly.

Start-up runs in this order, and each step is a function of its own:

1. :func:`memhub.storage.open_storage` opens and checks the store (a bad file or an unreachable
   server fails in a second, not after the model load);
2. the embedding model loads, and the engine completes against it (schema, embedder check);
3. :func:`_start_actors`: the change follower fills the vector mirror, then the writer and the
   readers start;
4. :func:`_serve`: the websocket listens, and only then does the runtime file appear, so
   clients never see a half-started daemon.

Stopping (:func:`_stop`) runs the same list backwards: the runtime file goes first (no new
clients), the transport closes, the writer commits everything still queued, the engine does its
last upkeep (SQLite: a TRUNCATE checkpoint folds the WAL back into the file), and the readers,
the follower and the model go last.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Final

import attrs
import trio

from memhub import PROTOCOL_VERSION, __version__
from memhub.actors.embedder import EmbeddingActor
from memhub.actors.events import EventHub
from memhub.actors.follower import ChangeFollower
from memhub.actors.reader import ReaderPool
from memhub.actors.writer import WriterActor
from memhub.config import Settings
from memhub.credentials import Credentials
from memhub.discovery import RuntimeInfo, new_token, remove_runtime_file, write_runtime_file
from memhub.embedding import Embedder, create_embedder
from memhub.errors import ServiceError
from memhub.protocol import messages as m
from memhub.service import MemoryService
from memhub.storage import open_storage
from memhub.storage.engine import Storage
from memhub.transport.server import serve_websocket_api

log = logging.getLogger(__name__)
DRAIN_GRACE_S: Final = 30.0
#: How long reads in progress at a stop may take to end before they are interrupted: enough for
#: any request's read, not for a full count of a million memories.
READ_GRACE_S: Final = 2.0
IDLE_UPKEEP_S: Final = 5.0
STORE_CHECK_S: Final = 2.0  # how often the store is checked between write batches
STORE_LOST_GRACE_S: Final = 1.0  # writes refused, health unhealthy, then the daemon stops
INTEGRITY_EVERY_S: Final = 15 * 60.0


@attrs.frozen(kw_only=True)
class DaemonHandle:
    """What a caller of :func:`run_daemon` gets once the daemon serves."""

    port: int
    token: str
    welcome: m.Welcome
    service: MemoryService
    stop: Callable[[], None]
    http_url: str | None = None  # the HTTP endpoint (MCP_HTTP_ENABLED), e.g. http://127.0.0.1:8000


@attrs.frozen(kw_only=True)
class _Actors:
    """The running actors of one daemon and the service over them."""

    writer: WriterActor
    writer_done: trio.Event
    readers: ReaderPool
    follower: ChangeFollower
    service: MemoryService


def embedder_factory(settings: Settings) -> Callable[[], Embedder]:
    return lambda: create_embedder(
        settings.embedder,
        settings.model_name,
        settings.torch_threads,
        backend=settings.embedding_backend,
        cache_dir=settings.model_cache_dir,
    )


async def run_daemon(
    settings: Settings,
    *,
    handle_signals: bool = False,
    write_runtime: bool = True,
    task_status: trio.TaskStatus[DaemonHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the daemon until a signal, a ``Shutdown`` request or the idle timeout.

    Raises:
        StartupError: the store or the model cannot be used; the message says why and how
            to fix it in one line.
    """
    opening = await trio.to_thread.run_sync(open_storage, settings)
    shutdown = trio.Event()
    embedder = EmbeddingActor(
        embedder_factory(settings),
        max_batch=settings.max_embed_batch,
        cache_size=settings.embed_cache_size,
    )
    storage: Storage | None = None
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(embedder.run)
            storage = await trio.to_thread.run_sync(opening.complete, embedder.embedder)
            actors = await _start_actors(nursery, settings, storage, embedder, shutdown)
            await _serve(
                settings,
                actors,
                opening.location,
                shutdown,
                handle_signals=handle_signals,
                write_runtime=write_runtime,
                task_status=task_status,
            )
            await _stop(actors, storage)
            nursery.cancel_scope.cancel()
    finally:
        if write_runtime:
            remove_runtime_file(settings.paths.runtime, os.getpid())
        if storage is not None:
            storage.close()
        else:
            opening.abandon()
    log.info("stopped")


async def _start_actors(
    nursery: trio.Nursery,
    settings: Settings,
    storage: Storage,
    embedder: EmbeddingActor,
    shutdown: trio.Event,
) -> _Actors:
    hub = EventHub()
    follower = ChangeFollower(storage, hub)
    await nursery.start(follower.run)  # fills the vector mirror first
    writer = WriterActor(
        storage.writer,
        max_batch=settings.max_write_batch,
        queue_size=settings.write_queue,
        busy_retries=settings.busy_retries,
        on_commit=follower.wake,
    )
    writer_done = trio.Event()

    async def run_writer(task_status: trio.TaskStatus[None]) -> None:
        try:
            await writer.run(task_status=task_status)
        finally:
            writer_done.set()

    await nursery.start(run_writer)
    readers = ReaderPool(
        storage.open_reader, readers=settings.readers, query_timeout_s=settings.query_timeout_s
    )
    await nursery.start(readers.run)
    service = MemoryService(
        settings,
        writer=writer,
        readers=readers,
        embedder=embedder,
        storage=storage,
        hub=hub,
        follower=follower,
        on_shutdown=shutdown,
        credentials=Credentials(new_token()),
    )
    return _Actors(
        writer=writer,
        writer_done=writer_done,
        readers=readers,
        follower=follower,
        service=service,
    )


async def _serve(
    settings: Settings,
    actors: _Actors,
    location: str,
    shutdown: trio.Event,
    *,
    handle_signals: bool,
    write_runtime: bool,
    task_status: trio.TaskStatus[DaemonHandle],
) -> None:
    """Serve until ``shutdown`` is set; the runtime file exists exactly while this serves."""
    service = actors.service
    welcome = _welcome(settings, service, location)
    credentials = service.callers.credentials
    async with trio.open_nursery() as edge:
        server = await edge.start(
            lambda task_status: serve_websocket_api(
                service,
                welcome=welcome,
                host=settings.host,
                port=settings.port,
                token=credentials.master_token,
                max_message_bytes=settings.max_message_bytes,
                max_inflight=settings.max_inflight_per_conn,
                max_connections=settings.max_connections,
                allowed_origins=settings.allow_origin,
                credentials=credentials,
                task_status=task_status,
            )
        )
        http_url = None
        if settings.http_enabled:
            # Before the runtime file, like the websocket: a port in use stops the start-up.
            from memhub.http import serve_http

            http = await edge.start(serve_http, service, settings)
            http_url = http.url
        if handle_signals:
            # Before the runtime file: a client may send SIGTERM the moment it appears.
            await edge.start(_watch_signals, shutdown)
        if write_runtime:
            write_runtime_file(
                settings.paths.runtime,
                _runtime_info(settings, server.port, credentials.master_token, location),
            )
        log.info("serving %s on ws://%s:%d", location, settings.host, server.port)
        if settings.idle_shutdown_s > 0:
            edge.start_soon(_watch_idle, service, settings.idle_shutdown_s, shutdown)
        edge.start_soon(_idle_upkeep, actors.writer)
        edge.start_soon(_watch_store, actors.writer, shutdown)
        edge.start_soon(_check_integrity, service)
        edge.start_soon(_count_in_background, actors)
        task_status.started(
            DaemonHandle(
                port=server.port,
                token=credentials.master_token,
                welcome=welcome,
                service=service,
                stop=shutdown.set,
                http_url=http_url,
            )
        )
        await shutdown.wait()
        log.info("stopping: draining queued writes")
        if write_runtime:
            remove_runtime_file(settings.paths.runtime, os.getpid())
        edge.cancel_scope.cancel()


def _welcome(settings: Settings, service: MemoryService, location: str) -> m.Welcome:
    """Who this daemon is, for every hello (its id and protocol are the hello's)."""
    model = service.embedder.embedder
    stats = service.storage.describe()
    return m.Welcome(
        id=0,
        protocol=PROTOCOL_VERSION,
        server_version=__version__,
        store=location,
        engine=stats.engine,
        machine=settings.machine,
        pid=os.getpid(),
        schema=stats.schema,
        embedder=model.name,
        embedding_dim=model.dimension,
    )


def _runtime_info(settings: Settings, port: int, token: str, location: str) -> RuntimeInfo:
    """What clients find in the runtime file (its shape is protocol 1's: old clients read it)."""
    return RuntimeInfo(
        pid=os.getpid(),
        host=settings.host,
        port=port,
        token=token,
        protocol=PROTOCOL_VERSION,
        version=__version__,
        db_path=location,
        started_at=time.time(),
        log_path=str(settings.paths.log),
    )


async def _stop(actors: _Actors, storage: Storage) -> None:
    """Commit what is queued and do the engine's last upkeep."""
    actors.writer.close()
    with trio.move_on_after(DRAIN_GRACE_S):
        await actors.writer_done.wait()
    with trio.move_on_after(10, shield=True):
        await trio.to_thread.run_sync(lambda: storage.writer.upkeep(thorough=True))
    await actors.readers.stop(READ_GRACE_S)


async def _watch_signals(
    shutdown: trio.Event, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            log.info("received %s", signal.Signals(signum).name)
            shutdown.set()
            return


async def _watch_idle(service: MemoryService, idle_s: float, shutdown: trio.Event) -> None:
    while True:
        await trio.sleep(min(idle_s, 5.0))
        quiet = time.monotonic() - service.last_activity
        if service.connected_clients == 0 and quiet >= idle_s:
            log.info("no client for %.0f s: stopping (MEMHUB_IDLE_SHUTDOWN)", quiet)
            shutdown.set()
            return


async def _watch_store(writer: WriterActor, shutdown: trio.Event) -> None:
    """Stop the daemon once its store is gone (a SQLite file deleted or replaced).

    Writes are already refused from the moment the writer notices; stopping lets the next
    client start a daemon on whatever the configuration names now, instead of writing into a
    file that no longer exists.
    """
    while True:
        with trio.move_on_after(STORE_CHECK_S):
            await writer.file_problem_seen.wait()
        problem = writer.check_file()
        if problem is not None:
            log.error("%s: refusing writes and stopping", problem)
            # A moment for the refusals already answered to reach their clients, and for
            # anyone asking for health to see why, before the connections close.
            await trio.sleep(STORE_LOST_GRACE_S)
            shutdown.set()
            return


async def _check_integrity(service: MemoryService) -> None:
    """Check the store's structure at start and every :data:`INTEGRITY_EVERY_S` (a scan: off
    the reader pool, under a deadline of its own), so health never calls a broken file healthy."""
    reporter = service.health_reporter
    while True:

        def check() -> str | None:
            session = service.storage.open_reader()
            try:
                return session.run(lambda snap: snap.integrity_problem(), time.monotonic() + 120)
            finally:
                session.close()

        try:
            reporter.integrity_problem = await trio.to_thread.run_sync(check)
        except Exception as exc:  # a check that cannot run says nothing either way
            log.warning("the integrity check could not run: %s", exc)
        reporter.integrity_checked.set()
        if reporter.integrity_problem is not None:
            log.error(
                "%s fails its integrity check: %s",
                service.storage.describe().location,
                reporter.integrity_problem,
            )
        await trio.sleep(INTEGRITY_EVERY_S)


async def _count_in_background(actors: _Actors) -> None:
    """Count the store once the mirror is loaded, so that the web UI's first aggregates and
    every store-wide ``memory_list`` total come from the followed counts (at a million
    memories the count is seconds of one reader; after it, each write moves the counts)."""
    await actors.follower.loaded.wait()
    try:
        await actors.service.counts.totals(None)
    except ServiceError as exc:
        log.warning("could not count the store in the background (%s); counted on request", exc)


async def _idle_upkeep(writer: WriterActor) -> None:
    """Engine upkeep when writes pause (SQLite: the -wal file stays small between bursts)."""
    done_at = 0.0
    while True:
        await trio.sleep(IDLE_UPKEEP_S)
        if writer.last_write > done_at and time.monotonic() - writer.last_write > 2.0:
            await writer.upkeep(thorough=True)
            done_at = time.monotonic()
