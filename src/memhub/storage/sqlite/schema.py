"""Opening a memory database: connections, schema detection and creation.

Two schema generations of mcp-memory-service exist in the wild and memhub reads and writes both
without ever migrating one into the other:

* **v10** (10.x): ``vec0(content_embedding FLOAT[D] distance_metric=cosine)``;
* **v12** (12.x, the current PyPI line): the vec0 table gains ``store TEXT partition key``,
  ``memories`` gains ``store`` and ``embedding_pending``, plus ``migration_registry``,
  ``sync_events`` and ``metadata.schema_version``.

Opening an existing database does no DDL and no writes. A new database is created in the v12
layout (or v10 with ``MEMHUB_NEW_SCHEMA=v10``) so that mcp-memory-service of that generation
opens it without migrating anything. Every failure is a :class:`~memhub.errors.StartupError`
whose message is one line naming the file and the fix.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal
from urllib.parse import quote

import apsw
import attrs

from memhub.errors import StartupError

Generation = Literal["v10", "v12"]
Metric = Literal["cosine", "l2"]

_DIM_RE: Final = re.compile(r"FLOAT\[(\d+)\]", re.IGNORECASE)
_METRIC_RE: Final = re.compile(r"distance_metric\s*=\s*(\w+)", re.IGNORECASE)
#: The metadata key in which memhub records which embedder wrote the vectors.
EMBEDDER_KEY: Final = "memhub_embedder"


@attrs.frozen(kw_only=True)
class Schema:
    """What memhub learned about a database file when it opened it."""

    generation: Generation
    dimension: int
    metric: Metric
    has_fts: bool
    memory_columns: frozenset[str]
    has_graph: bool
    embedder: str | None  # metadata[EMBEDDER_KEY], None when memhub never wrote here

    @property
    def has_store(self) -> bool:
        """12.x partitions memories by a ``store`` name (``'default'`` unless named)."""
        return "store" in self.memory_columns

    @property
    def has_superseded(self) -> bool:
        return "superseded_by" in self.memory_columns

    @property
    def has_embedding_pending(self) -> bool:
        return "embedding_pending" in self.memory_columns

    @property
    def vec_partitioned(self) -> bool:
        return self.generation == "v12"


def _load_sqlite_vec(conn: apsw.Connection, path: Path) -> None:
    try:
        import sqlite_vec
    except ImportError:
        raise StartupError(
            f"{path}: the sqlite-vec package is not installed; run `pip install sqlite-vec`"
        ) from None
    try:
        conn.enable_load_extension(True)
        conn.load_extension(sqlite_vec.loadable_path())
        conn.enable_load_extension(False)
    except (apsw.Error, AttributeError) as exc:
        raise StartupError(
            f"{path}: cannot load the sqlite-vec extension ({exc}); reinstall it with "
            "`pip install --force-reinstall sqlite-vec`"
        ) from None


def readonly_uri(path: Path) -> str:
    """The ``file:`` URI that opens ``path`` read-only.

    The path is percent-encoded: in a URI ``%`` starts an escape, ``?`` the query and ``#`` a
    fragment, so a directory named ``pct%41``, ``q?x`` or ``C#dir`` would otherwise open another
    file (``pctA``) or fail to open at all.
    """
    return f"file:{quote(str(path), safe='/')}?mode=ro"


def connect(
    path: Path, *, readonly: bool, pragmas: dict[str, str], create: bool = False
) -> apsw.Connection:
    """Open a connection with sqlite-vec loaded and the pragmas applied.

    Readers open the file with ``mode=ro``: SQLite itself then refuses any write, so a bug in
    a read path cannot turn into a write lock.
    """
    if readonly:
        flags = apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI
        target = readonly_uri(path)
    else:
        flags = apsw.SQLITE_OPEN_READWRITE | (apsw.SQLITE_OPEN_CREATE if create else 0)
        target = str(path)
    try:
        conn = apsw.Connection(target, flags=flags)
    except apsw.CantOpenError:
        raise StartupError(
            f"{path}: cannot open the database file; check that the directory exists and that "
            "you may read and write it"
        ) from None
    try:
        _load_sqlite_vec(conn, path)
        for name, value in pragmas.items():
            if readonly and name in ("journal_mode", "synchronous"):
                continue  # a read-only connection cannot and need not set these
            conn.execute(f"PRAGMA {name}={value}")
        if readonly:
            conn.execute("PRAGMA query_only=1")
    except StartupError:
        conn.close()
        raise
    except apsw.Error as exc:
        conn.close()
        raise explain_open_error(path, exc) from None
    return conn


def explain_open_error(path: Path, exc: BaseException) -> StartupError:
    """Turn an SQLite error met while opening into one actionable line."""
    if isinstance(exc, apsw.CantOpenError | apsw.ReadOnlyError) and _directory_is_the_cause(path):
        return StartupError(
            f"{path.parent}: the database's directory must be writable: SQLite creates "
            f"{path.name}-wal and {path.name}-shm beside {path.name}, and cannot create files "
            f"there; give your user write permission (`chmod u+w {path.parent}`) or move the "
            "database to a directory you can write"
        )
    if isinstance(exc, apsw.NotADBError):
        return StartupError(
            f"{path}: this file is not an SQLite database; point MCP_MEMORY_SQLITE_PATH at your "
            "memory database or move this file away"
        )
    if isinstance(exc, apsw.CorruptError):
        return StartupError(
            f"{path}: the database is corrupt ({exc}); restore a backup, or try "
            f"`sqlite3 {path} .recover`"
        )
    if isinstance(exc, apsw.ReadOnlyError):
        return StartupError(
            f"{path}: the database is read-only; give your user write permission "
            f"(`chmod u+w {path}` and its -wal/-shm files)"
        )
    if isinstance(exc, apsw.BusyError):
        return StartupError(
            f"{path}: the database stayed locked by another process; close the program "
            "holding it or raise busy_timeout in MCP_MEMORY_SQLITE_PRAGMAS"
        )
    return StartupError(f"{path}: cannot open the database: {exc}")


def _directory_is_the_cause(path: Path) -> bool:
    """Whether SQLite failed because it cannot create the -wal/-shm files beside ``path``.

    Only then is a writable database in a read-only directory not the file's fault. Tried, not
    inferred from modes: root, ACLs and immutable directories defy the mode bits.
    """
    if all(Path(f"{path}{suffix}").exists() for suffix in ("-wal", "-shm")):
        return False  # nothing needs creating: the cause is elsewhere
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=path.parent)
    except OSError:
        return True
    os.close(fd)
    os.unlink(probe)
    return False


def refuse_foreign_database(path: Path) -> None:
    """Refuse a non-empty SQLite database that holds no memory tables, leaving it untouched.

    memhub creates its tables only in a new (empty) file or a memory database; pointing it at
    another program's database by mistake must not add tables to it or switch it to WAL.
    Opens the file read-only with no extension and no pragma, so nothing is written.
    """
    try:
        conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    except apsw.CantOpenError:
        return  # no file yet: a new database
    try:
        names = [
            str(row[0])
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
    except apsw.Error as exc:
        raise explain_open_error(path, exc) from None
    finally:
        conn.close()
    if names and "memories" not in names and "memory_embeddings" not in names:
        shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
        raise StartupError(
            f"{path}: this SQLite database belongs to another program (it holds {shown} and no "
            "memories table); memhub leaves it untouched. Point MCP_MEMORY_SQLITE_PATH at your "
            "memory database or at a new file"
        )


def inspect(conn: apsw.Connection, path: Path) -> Schema | None:
    """Describe an existing database, or return None if it holds no memory tables yet."""
    try:
        rows = {
            name: sql or ""
            for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type='table'")
        }
    except apsw.Error as exc:
        raise explain_open_error(path, exc) from None
    if "memories" not in rows and "memory_embeddings" not in rows:
        return None
    if "memory_embeddings" not in rows:
        raise StartupError(
            f"{path}: the database has a memories table but no memory_embeddings table; it was "
            "not created by mcp-memory-service's sqlite-vec backend"
        )
    if "memories" not in rows:
        raise StartupError(f"{path}: the database has embeddings but no memories table")
    vec_sql = rows["memory_embeddings"]
    dim_match = _DIM_RE.search(vec_sql)
    if not dim_match:
        raise StartupError(f"{path}: cannot read the embedding dimension from {vec_sql!r}")
    metric_match = _METRIC_RE.search(vec_sql)
    metric = metric_match.group(1).lower() if metric_match else "l2"
    if metric not in ("cosine", "l2"):
        raise StartupError(
            f"{path}: the embeddings use distance_metric={metric}, which memhub does not "
            "support (cosine or l2)"
        )
    columns = frozenset(r[1] for r in conn.execute("PRAGMA table_info(memories)"))
    generation: Generation = "v12" if "partition key" in vec_sql.lower() else "v10"
    embedder = None
    if "metadata" in rows:
        found = conn.execute("SELECT value FROM metadata WHERE key = ?", (EMBEDDER_KEY,)).fetchall()
        embedder = str(found[0][0]) if found else None
    return Schema(
        generation=generation,
        dimension=int(dim_match.group(1)),
        metric="cosine" if metric == "cosine" else "l2",
        has_fts="memory_content_fts" in rows,
        memory_columns=columns,
        has_graph="memory_graph" in rows,
        embedder=embedder,
    )


_V10_MEMORIES: Final = """
CREATE TABLE memories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    content_hash TEXT UNIQUE NOT NULL,
    content TEXT NOT NULL,
    tags TEXT,
    memory_type TEXT,
    metadata TEXT,
    created_at REAL,
    updated_at REAL,
    created_at_iso TEXT,
    updated_at_iso TEXT,
    deleted_at REAL DEFAULT NULL,
    parent_id TEXT,
    version INTEGER DEFAULT 1,
    confidence REAL DEFAULT 1.0,
    last_accessed INTEGER,
    superseded_by TEXT
)"""

# 12.x adds `store` right after deleted_at on a fresh file and embedding_pending last.
_V12_MEMORIES: Final = """
CREATE TABLE memories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    content_hash TEXT UNIQUE NOT NULL,
    content TEXT NOT NULL,
    tags TEXT,
    memory_type TEXT,
    metadata TEXT,
    created_at REAL,
    updated_at REAL,
    created_at_iso TEXT,
    updated_at_iso TEXT,
    deleted_at REAL DEFAULT NULL,
    store TEXT DEFAULT 'default',
    parent_id TEXT,
    version INTEGER DEFAULT 1,
    confidence REAL DEFAULT 1.0,
    last_accessed INTEGER,
    superseded_by TEXT,
    embedding_pending INTEGER NOT NULL DEFAULT 0
)"""

_COMMON_DDL: Final = [
    "CREATE TABLE metadata (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE INDEX idx_content_hash ON memories(content_hash)",
    "CREATE INDEX idx_created_at ON memories(created_at)",
    "CREATE INDEX idx_memory_type ON memories(memory_type)",
    "CREATE INDEX idx_deleted_at ON memories(deleted_at)",
    """CREATE TABLE memory_graph (
        source_hash TEXT NOT NULL, target_hash TEXT NOT NULL, similarity REAL NOT NULL,
        connection_types TEXT NOT NULL, metadata TEXT, created_at REAL NOT NULL,
        relationship_type TEXT DEFAULT 'related', PRIMARY KEY (source_hash, target_hash))""",
    "CREATE INDEX idx_graph_source ON memory_graph(source_hash)",
    "CREATE INDEX idx_graph_target ON memory_graph(target_hash)",
    "CREATE INDEX idx_graph_relationship ON memory_graph(relationship_type)",
    """CREATE VIRTUAL TABLE memory_content_fts USING fts5(
        content, content='memories', content_rowid='id', tokenize='trigram')""",
    """CREATE TRIGGER memories_fts_ai AFTER INSERT ON memories BEGIN
        INSERT INTO memory_content_fts(rowid, content) VALUES (new.id, new.content); END""",
    """CREATE TRIGGER memories_fts_au AFTER UPDATE ON memories BEGIN
        DELETE FROM memory_content_fts WHERE rowid = old.id;
        INSERT INTO memory_content_fts(rowid, content) VALUES (new.id, new.content); END""",
    """CREATE TRIGGER memories_fts_ad AFTER DELETE ON memories BEGIN
        DELETE FROM memory_content_fts WHERE rowid = old.id; END""",
    "INSERT INTO metadata (key, value) VALUES ('distance_metric', 'cosine')",
    "INSERT INTO metadata (key, value) VALUES ('fts5_enabled', 'true')",
]

_V12_DDL: Final = [
    "CREATE INDEX idx_memories_embedding_pending ON memories(embedding_pending)",
    """CREATE TABLE migration_registry (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
        filename TEXT NOT NULL, applied_at TEXT NOT NULL, checksum TEXT)""",
    """CREATE TABLE beliefs (id INTEGER PRIMARY KEY AUTOINCREMENT,
        belief_hash TEXT UNIQUE NOT NULL, content TEXT NOT NULL,
        confidence REAL NOT NULL DEFAULT 0.5, status TEXT NOT NULL DEFAULT 'candidate',
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
        derived_from TEXT NOT NULL DEFAULT '[]', contradicted_by TEXT NOT NULL DEFAULT '[]',
        metadata TEXT DEFAULT '{}')""",
    "CREATE INDEX idx_beliefs_status ON beliefs(status)",
    "CREATE INDEX idx_beliefs_confidence ON beliefs(confidence)",
    """CREATE TABLE sync_events (seq INTEGER PRIMARY KEY AUTOINCREMENT,
        schema_version INTEGER NOT NULL DEFAULT 1, agent_id TEXT, event_id TEXT NOT NULL,
        op TEXT NOT NULL, content_hash TEXT NOT NULL, payload TEXT NOT NULL,
        created_at REAL NOT NULL, created_at_iso TEXT, hlc_physical INTEGER,
        hlc_logical INTEGER, embedding_model TEXT, embedding_dim INTEGER,
        UNIQUE(agent_id, event_id))""",
    "CREATE INDEX idx_sync_events_hash ON sync_events(content_hash)",
    "CREATE INDEX idx_sync_events_seq ON sync_events(seq)",
    "CREATE INDEX idx_sync_events_op ON sync_events(op, content_hash)",
    """CREATE INDEX idx_sync_events_hlc
        ON sync_events(hlc_physical, hlc_logical, agent_id, event_id)""",
    """CREATE TABLE sync_cursor (peer_id TEXT PRIMARY KEY,
        last_seq_seen INTEGER NOT NULL DEFAULT 0, last_hlc_physical INTEGER,
        last_hlc_logical INTEGER, updated_at REAL NOT NULL)""",
    "CREATE INDEX idx_sync_cursor_updated ON sync_cursor(updated_at)",
    """CREATE TABLE push_cursor (peer_id TEXT PRIMARY KEY,
        last_seq_pushed INTEGER NOT NULL DEFAULT 0, updated_at REAL NOT NULL)""",
    "CREATE INDEX idx_push_cursor_updated ON push_cursor(updated_at)",
    "INSERT INTO metadata (key, value) VALUES ('schema_version', '19')",
    "INSERT INTO metadata (key, value) VALUES ('sync_hlc_physical', '0')",
    "INSERT INTO metadata (key, value) VALUES ('sync_hlc_logical', '0')",
]

#: 12.x's migration files; registering them all tells 12.x that nothing is pending.
V12_MIGRATIONS: Final = (
    (8, "add_graph_table"),
    (9, "add_relationship_type"),
    (10, "fix_asymmetric_relationships"),
    (11, "memory_evolution_p1"),
    (12, "add_belief_store"),
    (15, "add_sync_events"),
    (16, "add_hlc_to_sync_events"),
    (17, "add_embedding_consistency"),
    (18, "add_sync_cursor"),
    (19, "add_push_cursor"),
)


def create(conn: apsw.Connection, path: Path, *, dimension: int, generation: Generation) -> Schema:
    """Create the memory tables in an empty database, in one transaction."""
    partition = ", store TEXT partition key" if generation == "v12" else ""
    statements = [
        _V12_MEMORIES if generation == "v12" else _V10_MEMORIES,
        f"""CREATE VIRTUAL TABLE memory_embeddings USING vec0(
            content_embedding FLOAT[{int(dimension)}] distance_metric=cosine{partition})""",
        *_COMMON_DDL,
        *(_V12_DDL if generation == "v12" else []),
    ]
    applied_at = datetime.fromtimestamp(time.time(), UTC).isoformat()
    try:
        with conn:  # apsw: BEGIN/COMMIT, ROLLBACK on error
            # Another process may have created the tables since we looked.
            if inspect(conn, path) is None:
                for sql in statements:
                    conn.execute(sql)
                if generation == "v12":
                    conn.executemany(
                        "INSERT INTO migration_registry (version, name, filename, applied_at, "
                        "checksum) VALUES (?, ?, ?, ?, NULL)",
                        [(v, n, f"{v:03d}_{n}.sql", applied_at) for v, n in V12_MIGRATIONS],
                    )
    except apsw.Error as exc:
        raise explain_open_error(path, exc) from None
    schema = inspect(conn, path)
    assert schema is not None
    return schema
