"""Opening a team store for the daemon, and preparing one (``memhub team init``).

:func:`open_database` runs before the model loads: it connects (a wrong password, a missing
database or an unreachable server fail at once, with a message naming the server), checks that
pgvector is installed and that the schema was prepared, and reads which model the store holds.
:meth:`PgOpening.complete` refuses a model other than the store's and builds the engine.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.types import TypeInfo

from memhub import __version__
from memhub.errors import StartupError
from memhub.storage.embedder_check import EmbedderRecord, check_embedder
from memhub.storage.mirror import VectorIndex, rows_on_disk
from memhub.storage.model import DedupPolicy
from memhub.storage.postgres import ddl
from memhub.storage.postgres.connections import Connector
from memhub.storage.postgres.engine import PgStorage
from memhub.storage.postgres.privileges import missing_privileges
from memhub.storage.postgres.target import PgTarget, resolve
from memhub.storage.postgres.vectors import vector_type
from memhub.storage.postgres.writer import PgWriteSession

if TYPE_CHECKING:
    from memhub.config import Settings
    from memhub.embedding import Embedder

log = logging.getLogger(__name__)


def connect_or_explain(target: PgTarget, **kwargs: Any) -> psycopg.Connection[Any]:
    """A plain connection to the store's database, or a StartupError saying what to fix."""
    try:
        return psycopg.connect(target.url, connect_timeout=10, **target.connect_kwargs(), **kwargs)
    except psycopg.OperationalError as exc:
        raise StartupError(_connect_problem(target, exc)) from None


def _connect_problem(target: PgTarget, exc: psycopg.OperationalError) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    where = target.location
    if "password authentication failed" in text or "no password supplied" in text:
        return (
            f"{where}: the server refused the password of role {target.user!r}; check ~/.pgpass "
            "(PGPASSFILE) or MEMHUB_DATABASE_PASSWORD_FILE"
        )
    if "does not exist" in text and "database" in text:
        return f"{where}: the database {target.dbname!r} does not exist on the server"
    if "Connection refused" in text or "could not connect" in text or "timeout" in text:
        return f"{where}: the PostgreSQL server cannot be reached ({first})"
    return f"{where}: cannot connect: {first}"


class PgOpening:
    """A team store connected to and checked, waiting for the model."""

    def __init__(
        self,
        settings: Settings,
        target: PgTarget,
        *,
        vector: TypeInfo,
        meta: dict[str, str],
        versions: tuple[str, str],
        missing: list[str],
        live_rows: int = 0,
    ) -> None:
        self._settings = settings
        self._live_rows = live_rows
        self._target = target
        self._vector = vector
        self._meta = meta
        self._versions = versions
        self._missing = missing

    @property
    def location(self) -> str:
        return self._target.location

    def complete(self, model: Embedder) -> PgStorage:
        meta = self._meta
        record = EmbedderRecord(
            name=meta.get("embedder"), dimension=int(meta.get("dimension", "0")), has_rows=True
        )
        check_embedder(record, model, self._target.location)
        settings = self._settings
        application = f"memhub {__version__} ({settings.machine})"
        connector = Connector(self._target, self._vector, application)
        index = None
        if settings.vector_index == "ram":
            # A large team store keeps its float32 rows in an unlinked file of this user's
            # state directory (where the daemon's lock and log of this store already are).
            on_disk = rows_on_disk(settings.mirror_rows, self._live_rows)
            index = VectorIndex(
                model.dimension, rows_on_disk=settings.paths.log.parent if on_disk else None
            )
        if index is None:
            raise StartupError(
                "MEMHUB_VECTOR_INDEX=vec0 is the SQLite engine's; a team store always searches "
                "with the in-RAM mirror"
            )
        writer = PgWriteSession(
            connector,
            index=index,
            dedup=DedupPolicy(
                enabled=settings.semantic_dedup,
                window_hours=settings.semantic_dedup_hours,
                threshold=settings.semantic_dedup_threshold,
            ),
            origin=settings.machine,
            missing=self._missing,
        )
        return PgStorage(
            connector,
            writer,
            index,
            readers=settings.readers,
            schema_layout=meta.get("layout", ddl.LAYOUT),
            server_version=self._versions[0],
            vector_version=self._versions[1],
        )

    def abandon(self) -> None:
        pass  # nothing stays open between the checks and complete()


def open_database(settings: Settings) -> PgOpening:
    """Connect to the store ``settings.database_url`` names and check it (blocking)."""
    import os

    assert settings.database_url is not None
    target = resolve(settings.database_url, os.environ)
    with connect_or_explain(target) as conn:
        info = vector_type(conn)
        if info is None:
            raise StartupError(
                f"{target.location}: the database has no pgvector extension; an admin runs "
                f"`memhub team init {target.url}` (or `CREATE EXTENSION vector`) once"
            )
        meta = read_meta(conn, target)
        versions = server_versions(conn)
        missing = missing_privileges(conn, target.schema)
        live_rows = live_row_estimate(conn, target)
    if missing:
        log.warning(
            "%s: role %r lacks %s: this daemon serves searches, and refuses writes",
            target.location,
            target.user,
            ", ".join(missing),
        )
    return PgOpening(
        settings,
        target,
        vector=info,
        meta=meta,
        versions=versions,
        missing=missing,
        live_rows=live_rows,
    )


def live_row_estimate(conn: psycopg.Connection[Any], target: PgTarget) -> int:
    """The planner's estimate of the store's rows (free; -1 before the first ANALYZE, then 0):
    enough to choose where the mirror keeps its rows."""
    row = conn.execute(
        "SELECT c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = 'memories'",
        (target.schema,),
    ).fetchone()
    conn.rollback()
    return max(0, int(row[0])) if row is not None else 0


def read_meta(conn: psycopg.Connection[Any], target: PgTarget) -> dict[str, str]:
    try:
        rows = conn.execute(f"SELECT key, value FROM {target.schema}.meta").fetchall()
    except pg_errors.UndefinedTable:
        conn.rollback()
        raise StartupError(
            f"{target.location}: no memhub store in schema {target.schema!r}; prepare it once "
            f"with `memhub team init {target.url}`"
        ) from None
    except pg_errors.InsufficientPrivilege as exc:
        conn.rollback()
        raise StartupError(
            f"{target.location}: the role {target.user!r} may not read the store "
            f"({exc.diag.message_primary}); ask the team's admin to grant memhub_reader or "
            "memhub_writer"
        ) from None
    meta = {str(k): str(v) for k, v in rows}
    if meta.get("layout") != ddl.LAYOUT:
        raise StartupError(
            f"{target.location}: schema {target.schema!r} holds layout {meta.get('layout')!r}, "
            f"not {ddl.LAYOUT!r}; this memhub cannot use it"
        )
    return meta


def server_versions(conn: psycopg.Connection[Any]) -> tuple[str, str]:
    server = conn.execute("SHOW server_version").fetchall()[0][0]
    found = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchall()
    return str(server).split()[0], str(found[0][0]) if found else "?"


def init_store(target: PgTarget, *, embedder: str, dimension: int) -> list[str]:
    """Prepare the store (extension, schema, roles, the model's meta row); what was done.

    Idempotent: a prepared store for the same model is left as it is.

    Raises:
        StartupError: pgvector missing and not installable by this role, or the store holds
            another model.
    """
    done: list[str] = []
    with connect_or_explain(target, autocommit=True) as conn:
        if vector_type(conn) is None:
            try:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                done.append("created the pgvector extension")
            except pg_errors.InsufficientPrivilege:
                raise StartupError(
                    f"{target.location}: the pgvector extension is not installed and role "
                    f"{target.user!r} may not install it; a superuser runs "
                    "`CREATE EXTENSION vector` in this database once"
                ) from None
            except (pg_errors.FeatureNotSupported, pg_errors.UndefinedFile) as exc:
                raise StartupError(
                    f"{target.location}: this server has no pgvector ({exc.diag.message_primary}); "
                    "install pgvector on the server (https://github.com/pgvector/pgvector)"
                ) from None
        with conn.transaction():
            for statement in ddl.schema_sql(target.schema, dimension):
                conn.execute(statement)
            rows = dict(conn.execute(f"SELECT key, value FROM {target.schema}.meta").fetchall())
            wanted = {"layout": ddl.LAYOUT, "embedder": embedder, "dimension": str(dimension)}
            for key, value in wanted.items():
                if key in rows and rows[key] != value:
                    raise StartupError(
                        f"{target.location}: the store holds {key}={rows[key]!r}, not "
                        f"{value!r}; use another schema (MEMHUB_PG_SCHEMA) for another model"
                    )
                if key not in rows:
                    conn.execute(
                        f"INSERT INTO {target.schema}.meta (key, value) VALUES (%s, %s)",
                        (key, value),
                    )
            if not rows:
                done.append(f"created the store in schema {target.schema!r} for {embedder}")
            for statement in ddl.grants_sql(target.schema):
                conn.execute(statement)
            done.append(f"granted {ddl.WRITER_ROLE} and {ddl.READER_ROLE} on {target.schema!r}")
    return done


def grant_member(target: PgTarget, role: str, *, read_only: bool) -> str:
    """Make the login role ``role`` a writer or a read-only member of the store."""
    group = ddl.READER_ROLE if read_only else ddl.WRITER_ROLE
    other = ddl.WRITER_ROLE if read_only else ddl.READER_ROLE
    with connect_or_explain(target, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchall()
        if not exists:
            raise StartupError(
                f"{target.location}: there is no role {role!r}; create it first "
                f"(CREATE ROLE {role} LOGIN PASSWORD ...) and run this again"
            )
        try:
            conn.execute(
                sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(role))
            )
            conn.execute(
                sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(other), sql.Identifier(role))
            )
            conn.execute(
                sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                    sql.Identifier(target.dbname), sql.Identifier(role)
                )
            )
        except pg_errors.InsufficientPrivilege as exc:
            raise StartupError(
                f"{target.location}: role {target.user!r} may not grant access "
                f"({exc.diag.message_primary}); run this as the store's admin"
            ) from None
    kind = "read-only member (search, no writes)" if read_only else "writer"
    return f"{role} is now a {kind} of {target.location}"
