"""Opening a SQLite memory database for the daemon: every check, in the order that fails fast.

:func:`open_file` runs before the embedding model loads, so a bad file fails in a second, not
after a model load: the directory, a foreign SQLite file (refused untouched), read-only files,
the journal mode, the schema of an existing file. :meth:`SqliteOpening.complete` runs once the
model is known: it creates the tables of a new file for the model's dimension, refuses vectors
of another embedder, and builds the engine.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

import apsw

from memhub.errors import StartupError
from memhub.storage.embedder_check import EmbedderRecord, check_embedder
from memhub.storage.mirror import VectorIndex, rows_on_disk
from memhub.storage.model import DedupPolicy
from memhub.storage.sqlite import schema as schema_mod
from memhub.storage.sqlite.engine import SqliteStorage, SqliteWriteSession, read_fingerprint
from memhub.storage.sqlite.feed import ChangeLog
from memhub.storage.sqlite.filewatch import FileWatch

if TYPE_CHECKING:
    from memhub.config import Settings
    from memhub.embedding import Embedder

log = logging.getLogger(__name__)
#: The -wal file is bounded to this once a checkpoint has reset it (the daemon checkpoints).
JOURNAL_SIZE_LIMIT: Final = 64 * 1024 * 1024


class SqliteOpening:
    """A database file opened for writing and inspected, waiting for the model."""

    def __init__(
        self, settings: Settings, conn: apsw.Connection, found: schema_mod.Schema | None
    ) -> None:
        self.path = settings.db_path
        self._settings = settings
        self._conn = conn
        self._found = found

    @property
    def location(self) -> str:
        return str(self.path)

    def complete(self, model: Embedder) -> SqliteStorage:
        """Create or check the schema for ``model`` and build the engine (blocking)."""
        conn, path, settings = self._conn, self.path, self._settings
        try:
            if self._found is None:
                generation = settings.new_schema
                schema = schema_mod.create(
                    conn, path, dimension=model.dimension, generation=generation
                )
                log.info("created a new %s database at %s", generation, path)
            else:
                schema = self._found
            with conn:
                has_rows = read_fingerprint(conn).max_id > 0
            check_embedder(
                EmbedderRecord(schema.embedder, schema.dimension, has_rows), model, str(path)
            )
            with conn:
                found = read_fingerprint(conn)
            max_id = found.max_id
            index = None
            if settings.vector_index == "ram":
                on_disk = rows_on_disk(settings.mirror_rows, found.active)
                index = VectorIndex(
                    schema.dimension, schema.metric, rows_on_disk=path.parent if on_disk else None
                )
            change_log = ChangeLog(max_id)
            writer = SqliteWriteSession(
                conn,
                schema,
                index=index,
                dedup=DedupPolicy(
                    enabled=settings.semantic_dedup,
                    window_hours=settings.semantic_dedup_hours,
                    threshold=settings.semantic_dedup_threshold,
                ),
                embedder_name=model.name,
                log=change_log,
                origin=settings.machine,
                file_watch=FileWatch(path),
                upkeep_log_bytes=settings.checkpoint_wal_bytes,
            )
            vec_version = str(conn.execute("SELECT vec_version()").fetchall()[0][0])
        except BaseException:
            conn.close()
            raise
        return SqliteStorage(
            path, settings.pragmas, writer, change_log, index, vec_version=vec_version
        )

    def abandon(self) -> None:
        self._conn.close()


def open_file(settings: Settings) -> SqliteOpening:
    """Open ``settings.db_path`` for the daemon's writer and inspect it (blocking).

    Raises:
        StartupError: the file cannot be used; the message names it and the fix.
    """
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
        conn.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
        found = schema_mod.inspect(conn, path)
    except BaseException:
        conn.close()
        raise
    return SqliteOpening(settings, conn, found)
