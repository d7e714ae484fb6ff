"""The daemon's life: open the database, start the actors, serve, and stop cleanly.

Start-up order matters and is the order of this module: the database file is opened and
inspected first (so a bad file fails in a second, not after the model load), then the model is
loaded, then the schema is created or checked against the model, then the writer and readers
start, and only then does the websocket accept traffic and the runtime file appear. Clients
therefore never see a half-started daemon.

Stopping runs the same list backwards: the runtime file goes first (no new clients), the
transport closes, the writer commits everything still queued, a TRUNCATE checkpoint folds the
WAL back into the database, and the readers and the model go last.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import apsw
import attrs
import trio

from memhub import PROTOCOL_VERSION, __version__
from memhub.actors.embedder import EmbeddingActor
from memhub.actors.events import EventHub
from memhub.actors.reader import ReaderPool
from memhub.actors.writer import WriterActor
from memhub.config import Settings
from memhub.credentials import Credentials
from memhub.discovery import RuntimeInfo, new_token, remove_runtime_file, write_runtime_file
from memhub.embedding import Embedder, create_embedder
from memhub.errors import StartupError
from memhub.protocol import messages as m
from memhub.service import MemoryService
from memhub.storage import schema as schema_mod
from memhub.storage.filewatch import FileWatch
from memhub.storage.sqlite import SqliteStorage, SqliteWriteSession
from memhub.storage.vectors import VectorIndex
from memhub.storage.writes import DedupPolicy
from memhub.transport.server import serve_websocket_api

log = logging.getLogger(__name__)
DRAIN_GRACE_S: Final = 30.0
IDLE_CHECKPOINT_S: Final = 5.0
FILE_CHECK_S: Final = 2.0  # how often the database file is checked between write batches
FILE_LOST_GRACE_S: Final = 1.0  # writes refused, health unhealthy, then the daemon stops


@attrs.frozen(kw_only=True)
class DaemonHandle:
    """What a caller of :func:`run_daemon` gets once the daemon serves."""

    port: int
    token: str
    welcome: m.Welcome
    service: MemoryService
    stop: Callable[[], None]


def embedder_factory(settings: Settings) -> Callable[[], Embedder]:
    return lambda: create_embedder(
        settings.embedder,
        settings.model_name,
        settings.torch_threads,
        backend=settings.embedding_backend,
        cache_dir=settings.model_cache_dir,
    )


def check_embedder(
    schema: schema_mod.Schema, embedder: Embedder, has_rows: bool, path: Path
) -> None:
    """Refuse to mix vectors of two embedders in one file (a fake one must never write here)."""
    if schema.dimension != embedder.dimension:
        raise StartupError(
            f"{path}: the database stores {schema.dimension}-dimensional embeddings but the "
            f"embedder {embedder.name} makes {embedder.dimension}; set MCP_EMBEDDING_MODEL to "
            "the model that wrote this database"
        )
    if schema.embedder is not None and schema.embedder != embedder.name:
        raise StartupError(
            f"{path}: the database was written with the embedder {schema.embedder}, not "
            f"{embedder.name}; set MCP_EMBEDDING_MODEL / MEMHUB_EMBEDDER to match, or use "
            "another database file"
        )
    if schema.embedder is None and has_rows and embedder.kind == "hash":
        raise StartupError(
            f"{path}: this database holds real embeddings; the hash embedder "
            "(MEMHUB_EMBEDDER=hash) is only for tests and the stress harness"
        )


def _open_writer_connection(settings: Settings) -> tuple[apsw.Connection, schema_mod.Schema | None]:
    path = settings.db_path
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Before any pragma: switching to WAL would already write to another program's database.
    schema_mod.refuse_foreign_database(path)
    conn = schema_mod.connect(path, readonly=False, pragmas=settings.pragmas, create=True)
    try:
        if conn.readonly("main"):
            raise StartupError(
                f"{path}: the database file is read-only; give your user write permission "
                f"(`chmod u+w {path}`)"
            )
        mode = conn.execute("PRAGMA journal_mode").fetchall()[0][0]
        if str(mode).lower() != "wal":
            log.warning("%s: journal_mode is %s, not WAL; readers may wait for writes", path, mode)
        # Bound the -wal file once a checkpoint has reset it (the daemon owns checkpoints).
        conn.execute("PRAGMA journal_size_limit=67108864")
        found = schema_mod.inspect(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn, found


def _has_rows(conn: apsw.Connection) -> bool:
    return bool(conn.execute("SELECT 1 FROM memories LIMIT 1").fetchall())


def _versions(conn: apsw.Connection) -> tuple[str, str]:
    vec = conn.execute("SELECT vec_version()").fetchall()[0][0]
    return apsw.sqlite_lib_version(), str(vec)


async def run_daemon(
    settings: Settings,
    *,
    handle_signals: bool = False,
    write_runtime: bool = True,
    task_status: trio.TaskStatus[DaemonHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the daemon until a signal, a ``Shutdown`` request or the idle timeout.

    Raises:
        StartupError: the database or the model cannot be used; the message says why and how
            to fix it in one line.
    """
    path = settings.db_path
    conn, found = await trio.to_thread.run_sync(_open_writer_connection, settings)
    shutdown = trio.Event()
    hub = EventHub()
    embedder = EmbeddingActor(
        embedder_factory(settings),
        max_batch=settings.max_embed_batch,
        cache_size=settings.embed_cache_size,
    )
    try:
        async with trio.open_nursery() as actors:
            await actors.start(embedder.run)
            model = embedder.embedder
            if found is None:
                generation = _new_schema_generation()
                schema = await trio.to_thread.run_sync(
                    lambda: schema_mod.create(
                        conn, path, dimension=model.dimension, generation=generation
                    )
                )
                log.info("created a new %s database at %s", generation, path)
            else:
                schema = found
            check_embedder(schema, model, await trio.to_thread.run_sync(_has_rows, conn), path)
            index = None
            if settings.vector_index == "ram":
                index = VectorIndex(schema.dimension, schema.metric)
                loaded = await trio.to_thread.run_sync(index.load_all, conn)
                log.info("vector index: %d vectors in RAM", loaded)
            storage = SqliteStorage(
                path,
                settings.pragmas,
                SqliteWriteSession(
                    conn,
                    schema,
                    index=index,
                    dedup=DedupPolicy(
                        enabled=settings.semantic_dedup,
                        window_hours=settings.semantic_dedup_hours,
                        threshold=settings.semantic_dedup_threshold,
                    ),
                    embedder_name=model.name,
                    file_watch=FileWatch(path),
                ),
                index,
            )
            writer = WriterActor(
                storage.writer,
                hub=hub,
                max_batch=settings.max_write_batch,
                queue_size=settings.write_queue,
                busy_retries=settings.busy_retries,
                checkpoint_log_bytes=settings.checkpoint_wal_bytes,
            )
            writer_done = trio.Event()

            async def run_writer(task_status: trio.TaskStatus[None]) -> None:
                try:
                    await writer.run(task_status=task_status)
                finally:
                    writer_done.set()

            await actors.start(run_writer)
            readers = ReaderPool(
                storage.open_reader,
                readers=settings.readers,
                query_timeout_s=settings.query_timeout_s,
            )
            await actors.start(readers.run)
            sqlite_version, vec_version = _versions(conn)
            welcome = m.Welcome(
                id=0,  # replaced by each hello's id
                protocol=PROTOCOL_VERSION,
                server_version=__version__,
                db_path=str(path),
                pid=os.getpid(),
                schema=schema.generation,
                embedder=model.name,
                embedding_dim=model.dimension,
            )
            token = new_token()
            credentials = Credentials(token)  # shared: the service issues browser tickets
            service = MemoryService(
                settings,
                writer=writer,
                readers=readers,
                embedder=embedder,
                storage=storage,
                hub=hub,
                sqlite_version=sqlite_version,
                sqlite_vec_version=vec_version,
                on_shutdown=shutdown,
                credentials=credentials,
            )
            async with trio.open_nursery() as edge:
                server = await edge.start(
                    lambda task_status: serve_websocket_api(
                        service,
                        welcome=welcome,
                        host=settings.host,
                        port=settings.port,
                        token=token,
                        max_message_bytes=settings.max_message_bytes,
                        max_inflight=settings.max_inflight_per_conn,
                        max_connections=settings.max_connections,
                        allowed_origins=settings.allow_origin,
                        credentials=credentials,
                        task_status=task_status,
                    )
                )
                if handle_signals:
                    # Before the runtime file: a client may send SIGTERM the moment it appears.
                    await edge.start(_watch_signals, shutdown)
                if write_runtime:
                    write_runtime_file(
                        settings.paths.runtime,
                        RuntimeInfo(
                            pid=os.getpid(),
                            host=settings.host,
                            port=server.port,
                            token=token,
                            protocol=PROTOCOL_VERSION,
                            version=__version__,
                            db_path=str(path),
                            started_at=time.time(),
                            log_path=str(settings.paths.log),
                        ),
                    )
                log.info("serving %s on ws://%s:%d", path, settings.host, server.port)
                if settings.idle_shutdown_s > 0:
                    edge.start_soon(_watch_idle, service, settings.idle_shutdown_s, shutdown)
                edge.start_soon(_idle_checkpoints, writer)
                edge.start_soon(_watch_database_file, writer, shutdown)
                task_status.started(
                    DaemonHandle(
                        port=server.port,
                        token=token,
                        welcome=welcome,
                        service=service,
                        stop=shutdown.set,
                    )
                )
                await shutdown.wait()
                log.info("stopping: draining queued writes")
                if write_runtime:
                    remove_runtime_file(settings.paths.runtime, os.getpid())
                edge.cancel_scope.cancel()
            writer.close()
            with trio.move_on_after(DRAIN_GRACE_S):
                await writer_done.wait()
            with trio.move_on_after(10, shield=True):
                await trio.to_thread.run_sync(_final_checkpoint, conn)
            readers.close()
            actors.cancel_scope.cancel()
    finally:
        if write_runtime:
            remove_runtime_file(settings.paths.runtime, os.getpid())
        conn.close()
    log.info("stopped")


def _new_schema_generation() -> schema_mod.Generation:
    raw = os.environ.get("MEMHUB_NEW_SCHEMA", "v12").strip().lower() or "v12"
    if raw == "v10":
        return "v10"
    if raw == "v12":
        return "v12"
    raise StartupError(f"MEMHUB_NEW_SCHEMA={raw!r}: expected v10 or v12")


def _final_checkpoint(conn: apsw.Connection) -> None:
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    except apsw.Error as exc:
        log.warning("final checkpoint failed: %s", exc)


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


async def _watch_database_file(writer: WriterActor, shutdown: trio.Event) -> None:
    """Stop the daemon once its database file is deleted or replaced (see ``FileWatch``).

    Writes are already refused from the moment the writer notices; stopping lets the next
    client start a daemon on whatever file the path names now, instead of writing into a file
    that no longer exists.
    """
    while True:
        with trio.move_on_after(FILE_CHECK_S):
            await writer.file_problem_seen.wait()
        problem = writer.check_file()
        if problem is not None:
            log.error("%s: refusing writes and stopping", problem)
            # A moment for the refusals already answered to reach their clients, and for
            # anyone asking for health to see why, before the connections close.
            await trio.sleep(FILE_LOST_GRACE_S)
            shutdown.set()
            return


async def _idle_checkpoints(writer: WriterActor) -> None:
    """Fold the WAL back when writes pause, so the -wal file stays small between bursts."""
    checkpointed_at = 0.0
    while True:
        await trio.sleep(IDLE_CHECKPOINT_S)
        if writer.last_write > checkpointed_at and time.monotonic() - writer.last_write > 2.0:
            await writer.checkpoint("truncate")
            checkpointed_at = time.monotonic()
