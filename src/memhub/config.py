"""Settings: where the database is and how the daemon behaves, read from the environment.

Database path resolution and the ``MCP_*`` variables follow mcp-memory-service exactly so that an
existing client configuration keeps pointing at the same file. memhub's own knobs use the
``MEMHUB_`` prefix; every one is listed in the README's configuration reference.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal, cast

import attrs

from memhub.storage.postgres import target as pg_target
from memhub.storage.postgres.target import is_database_url

# "model": the real embedding model; "hash": a deterministic fake for tests and stress only.
EmbedderKind = Literal["model", "hash"]
# How the real model runs: "onnx" (onnxruntime + tokenizers, no torch in the daemon; the default)
# or "sentence-transformers" (torch; the reference the ONNX vectors are tested against).
EmbeddingBackend = Literal["onnx", "sentence-transformers"]
EMBEDDING_BACKENDS: Final[tuple[EmbeddingBackend, ...]] = ("onnx", "sentence-transformers")

DEFAULT_PRAGMAS: Final[dict[str, str]] = {
    # busy_timeout first: switching to WAL may itself need to wait for another process.
    "busy_timeout": "5000",
    "journal_mode": "WAL",
    "synchronous": "NORMAL",
    "cache_size": "10000",
    "temp_store": "MEMORY",
}
DEFAULT_MODEL: Final = "all-MiniLM-L6-v2"
DEFAULT_HTTP_PORT: Final = 8000  # mcp-memory-service's MCP_HTTP_PORT default
TRUE_WORDS: Final = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS: Final = frozenset({"0", "false", "no", "off"})


class ConfigError(ValueError):
    """A setting has a value memhub cannot use; the message names the variable."""


def default_base_dir(environ: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    """mcp-memory-service's per-OS data directory (it ignores ``XDG_DATA_HOME``, so do we)."""
    env = os.environ if environ is None else environ
    plat = sys.platform if platform is None else platform
    home = Path(env.get("HOME") or Path.home())
    if plat == "darwin":
        return home / "Library" / "Application Support" / "mcp-memory"
    if plat.startswith("win"):
        local = env.get("LOCALAPPDATA")
        return (Path(local) if local else home / "AppData" / "Local") / "mcp-memory"
    return home / ".local" / "share" / "mcp-memory"


def base_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``MCP_MEMORY_BASE_DIR`` or the per-OS default."""
    env = os.environ if environ is None else environ
    raw = env.get("MCP_MEMORY_BASE_DIR")
    return Path(raw).expanduser() if raw else default_base_dir(env)


def model_cache_dir(environ: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    """Where exported ONNX models are kept: ``MEMHUB_MODEL_CACHE``, else one cache per user.

    The platform's cache directory: ``$XDG_CACHE_HOME/memhub/models`` (``~/.cache/...``) on
    Linux, ``~/Library/Caches/memhub/models`` on macOS, ``%LOCALAPPDATA%\\memhub\\cache\\models``
    on Windows. Not per data directory: every database of a user shares one export (exports
    made under ``<BASE_DIR>/memhub-models`` before are still found, see ``onnx_cache``).
    """
    env = os.environ if environ is None else environ
    raw = env.get("MEMHUB_MODEL_CACHE")
    if raw:
        return Path(raw).expanduser()
    plat = sys.platform if platform is None else platform
    home = Path(env.get("HOME") or Path.home())
    if plat == "darwin":
        return home / "Library" / "Caches" / "memhub" / "models"
    if plat.startswith("win"):
        local = Path(env["LOCALAPPDATA"]) if env.get("LOCALAPPDATA") else home / "AppData" / "Local"
        return local / "memhub" / "cache" / "models"
    xdg = env.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".cache") / "memhub" / "models"


def embedding_backend(environ: Mapping[str, str] | None = None) -> EmbeddingBackend:
    """``MEMHUB_EMBEDDING_BACKEND``: ``onnx`` (default) or ``sentence-transformers``."""
    env = os.environ if environ is None else environ
    raw = env.get("MEMHUB_EMBEDDING_BACKEND", "").strip().lower() or "onnx"
    for backend in EMBEDDING_BACKENDS:
        if raw == backend:
            return backend
    raise ConfigError(
        f"MEMHUB_EMBEDDING_BACKEND={raw!r}: expected {' or '.join(EMBEDDING_BACKENDS)}"
    )


def resolve_db_path(environ: Mapping[str, str] | None = None, explicit: str | None = None) -> Path:
    """The database file, resolved like mcp-memory-service.

    Order: an explicit ``--db``, ``MCP_MEMORY_SQLITE_PATH``, ``MCP_MEMORY_SQLITEVEC_PATH``,
    then ``<BASE_DIR>/sqlite_vec.db``. The result is absolute and symlink-free, so that two
    spellings of one file find one daemon.
    """
    env = os.environ if environ is None else environ
    raw = (
        explicit
        or env.get("MCP_MEMORY_SQLITE_PATH")
        or env.get("MCP_MEMORY_SQLITEVEC_PATH")
        or str(base_dir(env) / "sqlite_vec.db")
    )
    return Path(os.path.realpath(Path(raw).expanduser()))


DATABASE_URL_ENV: Final = "MEMHUB_DATABASE_URL"


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Per-user directory for daemon state: ``MEMHUB_STATE_DIR`` or ``~/.local/state/memhub``.

    Every client of a store must agree on it, so it does not follow ``MCP_MEMORY_BASE_DIR``
    (clients are often configured with different data directories) but only the user.
    """
    env = os.environ if environ is None else environ
    raw = env.get("MEMHUB_STATE_DIR")
    if raw:
        return Path(raw).expanduser()
    return Path(env.get("HOME") or Path.home()) / ".local" / "state" / "memhub"


@attrs.frozen
class StoreRef:
    """Which store a configuration names.

    ``db_path`` is the SQLite file, or for a team store (``url``) the name its daemon's lock,
    runtime file and log sit beside, in the state directory. ``location`` is how its daemon
    names the store in its welcome: clients trust a daemon only if it serves this store.
    """

    db_path: Path
    url: str | None = None
    location: str = ""

    @property
    def argument(self) -> str:
        """What ``memhub serve --db`` takes to serve this store (never with a password)."""
        return self.url if self.url is not None else str(self.db_path)


def resolve_store(
    environ: Mapping[str, str] | None = None, explicit: str | None = None
) -> StoreRef:
    """The store of a configuration: an explicit ``--db`` (path or ``postgresql://`` URL), else
    ``MEMHUB_DATABASE_URL``, else the SQLite file mcp-memory-service would use."""
    env = os.environ if environ is None else environ
    url = explicit if is_database_url(explicit) else None
    if url is None and not explicit:
        url = env.get(DATABASE_URL_ENV) or None
    if url is None:
        path = resolve_db_path(env, explicit)
        return StoreRef(path, None, str(path))
    target = pg_target.resolve(url, env, with_password=False)
    anchor = state_dir(env) / "stores" / target.key / "store"
    return StoreRef(anchor, url, target.location)


def parse_pragmas(raw: str | None) -> dict[str, str]:
    """``MCP_MEMORY_SQLITE_PRAGMAS`` ("k=v,k=v") merged over the defaults, validated.

    Names must be identifiers and values simple tokens: unlike upstream we never paste
    arbitrary text into a PRAGMA statement.
    """
    pragmas = dict(DEFAULT_PRAGMAS)
    if not raw:
        return pragmas
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        name, value = name.strip().lower(), value.strip()
        if not sep or not name.isidentifier() or not value or not _simple_token(value):
            raise ConfigError(
                f"MCP_MEMORY_SQLITE_PRAGMAS: cannot use {part!r}; expected name=value pairs "
                "separated by commas, e.g. busy_timeout=15000,cache_size=20000"
            )
        pragmas[name] = value
    return pragmas


def _simple_token(value: str) -> bool:
    return all(ch.isalnum() or ch in "-_." for ch in value)


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    """A boolean variable; anything but a recognised word is an error, not a silent default."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name}={raw!r}: expected true or false")


def env_int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a whole number") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r}: must be at least {minimum}")
    return value


def env_float(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r}: must be at least {minimum}")
    return value


def runtime_paths(db_path: Path) -> RuntimePaths:
    """Files that sit beside the database: the daemon lock, its runtime file and its log.

    Keeping them next to the database (not in a per-user directory) means one file always has
    one lock, whatever environment a client was started with.
    """
    return RuntimePaths(
        lock=db_path.with_name(db_path.name + ".memhub.lock"),
        runtime=db_path.with_name(db_path.name + ".memhub.json"),
        log=db_path.with_name(db_path.name + ".memhub.log"),
    )


@attrs.frozen
class RuntimePaths:
    lock: Path
    runtime: Path
    log: Path


Generation = Literal["v10", "v12"]


def new_schema(environ: Mapping[str, str]) -> Generation:
    """``MEMHUB_NEW_SCHEMA``: the layout of a new SQLite file, ``v12`` (default) or ``v10``."""
    raw = environ.get("MEMHUB_NEW_SCHEMA", "v12").strip().lower() or "v12"
    if raw == "v10":
        return "v10"
    if raw == "v12":
        return "v12"
    raise ConfigError(f"MEMHUB_NEW_SCHEMA={raw!r}: expected v10 or v12")


def machine_name(environ: Mapping[str, str]) -> str:
    """``MEMHUB_MACHINE_NAME`` or the host name: names this machine's writes in the live feed."""
    raw = (environ.get("MEMHUB_MACHINE_NAME") or "").strip()
    return raw or socket.gethostname() or "this machine"


@attrs.frozen(kw_only=True)
class Settings:
    """Everything the daemon needs, resolved once at start-up."""

    db_path: Path
    pragmas: dict[str, str]
    database_url: str | None = None  # a postgresql:// store instead of the SQLite file
    new_schema: Generation = "v12"
    machine: str = attrs.field(factory=lambda: machine_name({}))
    host: str = "127.0.0.1"
    port: int = 0
    readers: int = 2
    embedder: EmbedderKind = "model"  # "model" (the real model) or "hash" (tests, stress only)
    model_name: str = DEFAULT_MODEL
    embedding_backend: EmbeddingBackend = "onnx"
    model_cache_dir: Path = attrs.field(factory=model_cache_dir)
    torch_threads: int = 2
    write_queue: int = 1024
    max_write_batch: int = 256
    max_embed_batch: int = 32
    query_timeout_s: float = 10.0
    max_inflight_per_conn: int = 64
    max_connections: int = 256
    max_message_bytes: int = 8 * 1024 * 1024
    max_content_chars: int = 1_000_000
    max_tags: int = 100
    idle_shutdown_s: float = 0.0
    semantic_dedup: bool = True
    semantic_dedup_hours: float = 24.0
    semantic_dedup_threshold: float = 0.85
    session_chunk_size: int = 1500
    busy_retries: int = 8
    checkpoint_wal_bytes: int = 4 * 1024 * 1024
    vector_index: str = "ram"  # "ram" (exact numpy mirror) or "vec0" (sqlite-vec scan)
    #: Where the mirror keeps its float32 rows: "ram", "disk" (a scratch file beside the
    #: database) or "auto" (disk from MIRROR_ROWS_ON_DISK_FROM memories at start).
    mirror_rows: str = "auto"
    embed_cache_size: int = 1024
    custom_memory_types: str | None = None
    #: 12.4's opt-in entity linking on store (``MCP_ENTITY_LINKING_ENABLED``) and its custom
    #: entity terms (``MCP_ENTITY_CUSTOM_TERMS``, a comma-separated list).
    entity_linking: bool = False
    entity_custom_terms: str | None = None
    allow_origin: tuple[str, ...] = ()
    log_level: str = "INFO"
    # The HTTP endpoint (REST + MCP Streamable HTTP, memhub.http), upstream's variables.
    http_enabled: bool = False
    http_host: str = "127.0.0.1"
    http_port: int = DEFAULT_HTTP_PORT
    api_key: str | None = attrs.field(default=None, repr=False)  # never in a log line
    allow_anonymous: bool = False
    anonymous_scope: str = "read write"
    http_max_body_bytes: int = 1024 * 1024
    http_body_timeout_s: float = 30.0  # a request body must arrive within this

    @property
    def paths(self) -> RuntimePaths:
        return runtime_paths(self.db_path)

    @property
    def store(self) -> StoreRef:
        if self.database_url is None:
            return StoreRef(self.db_path, None, str(self.db_path))
        target = pg_target.resolve(self.database_url, os.environ, with_password=False)
        return StoreRef(self.db_path, self.database_url, target.location)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, db: str | None = None
    ) -> Settings:
        """Read every setting; raise ConfigError naming the variable on a bad value."""
        env = os.environ if environ is None else environ
        cores = os.cpu_count() or 2
        embedder = env.get("MEMHUB_EMBEDDER", "model").strip().lower() or "model"
        if embedder not in ("model", "hash"):
            raise ConfigError(f"MEMHUB_EMBEDDER={embedder!r}: expected model or hash")
        index = env.get("MEMHUB_VECTOR_INDEX", "ram").strip().lower() or "ram"
        if index not in ("ram", "vec0"):
            raise ConfigError(f"MEMHUB_VECTOR_INDEX={index!r}: expected ram or vec0")
        mirror_rows = env.get("MEMHUB_MIRROR_ROWS", "auto").strip().lower() or "auto"
        if mirror_rows not in ("auto", "ram", "disk"):
            raise ConfigError(f"MEMHUB_MIRROR_ROWS={mirror_rows!r}: expected auto, ram or disk")
        origins = tuple(
            o.strip() for o in env.get("MEMHUB_ALLOW_ORIGIN", "").split(",") if o.strip()
        )
        store = resolve_store(env, db)
        return cls(
            db_path=store.db_path,
            database_url=store.url,
            pragmas=parse_pragmas(env.get("MCP_MEMORY_SQLITE_PRAGMAS")),
            new_schema=new_schema(env),
            machine=machine_name(env),
            host=env.get("MEMHUB_HOST", "127.0.0.1"),
            port=env_int(env, "MEMHUB_PORT", 0),
            readers=env_int(env, "MEMHUB_READERS", cores, minimum=1),
            embedder=cast("EmbedderKind", embedder),
            model_name=env.get("MCP_EMBEDDING_MODEL", DEFAULT_MODEL) or DEFAULT_MODEL,
            embedding_backend=embedding_backend(env),
            model_cache_dir=model_cache_dir(env),
            torch_threads=env_int(env, "MEMHUB_TORCH_THREADS", cores, minimum=1),
            write_queue=env_int(env, "MEMHUB_WRITE_QUEUE", 1024, minimum=1),
            max_write_batch=env_int(env, "MEMHUB_MAX_WRITE_BATCH", 256, minimum=1),
            max_embed_batch=env_int(env, "MEMHUB_MAX_EMBED_BATCH", 32, minimum=1),
            query_timeout_s=env_float(env, "MEMHUB_QUERY_TIMEOUT", 10.0, minimum=0.01),
            max_inflight_per_conn=env_int(env, "MEMHUB_MAX_INFLIGHT", 64, minimum=1),
            max_connections=env_int(env, "MEMHUB_MAX_CONNECTIONS", 256, minimum=1),
            max_message_bytes=env_int(
                env, "MEMHUB_MAX_MESSAGE_BYTES", 8 * 1024 * 1024, minimum=65536
            ),
            max_content_chars=env_int(env, "MEMHUB_MAX_CONTENT_CHARS", 1_000_000, minimum=1),
            idle_shutdown_s=env_float(env, "MEMHUB_IDLE_SHUTDOWN", 0.0),
            semantic_dedup=env_bool(env, "MCP_SEMANTIC_DEDUP_ENABLED", True),
            semantic_dedup_hours=env_float(env, "MCP_SEMANTIC_DEDUP_TIME_WINDOW_HOURS", 24.0),
            semantic_dedup_threshold=env_float(env, "MCP_SEMANTIC_DEDUP_THRESHOLD", 0.85),
            session_chunk_size=env_int(env, "SESSION_CHUNK_SIZE", 1500),
            busy_retries=env_int(env, "MEMHUB_BUSY_RETRIES", 8),
            checkpoint_wal_bytes=env_int(env, "MEMHUB_CHECKPOINT_WAL_BYTES", 4 * 1024 * 1024),
            vector_index=index,
            mirror_rows=mirror_rows,
            embed_cache_size=env_int(env, "MEMHUB_EMBED_CACHE", 1024),
            custom_memory_types=env.get("MCP_CUSTOM_MEMORY_TYPES") or None,
            entity_linking=env_bool(env, "MCP_ENTITY_LINKING_ENABLED", False),
            entity_custom_terms=env.get("MCP_ENTITY_CUSTOM_TERMS") or None,
            allow_origin=origins,
            log_level=(env.get("MEMHUB_LOG_LEVEL") or "INFO").upper(),
            **http_fields(env),
        )


def api_key(env: Mapping[str, str]) -> str | None:
    """``MCP_API_KEY``, else the first line of the file ``MEMHUB_API_KEY_FILE`` names.

    The file (which ``memhub install service`` writes, 0600) keeps the key out of service
    definitions and command lines. Upstream: an empty key counts as none.
    """
    if env.get("MCP_API_KEY"):
        return env["MCP_API_KEY"]
    raw = (env.get("MEMHUB_API_KEY_FILE") or "").strip()
    if not raw:
        return None
    path = Path(raw).expanduser()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"MEMHUB_API_KEY_FILE={raw!r}: cannot read it: {exc}") from None
    key = lines[0].strip() if lines else ""
    if not key:
        raise ConfigError(f"MEMHUB_API_KEY_FILE={raw!r}: the file holds no key")
    return key


def http_fields(env: Mapping[str, str]) -> dict[str, Any]:
    """The HTTP endpoint's settings from mcp-memory-service's variables.

    Upstream parses ``MCP_HTTP_ENABLED`` but never reads it (its HTTP server starts only with
    ``memory server --http``); memhub honours it. ``MCP_ALLOW_ANONYMOUS_ACCESS`` takes
    upstream's words (``enabled``/``disabled`` too); where upstream logs a bad value and falls
    back to the default, memhub refuses to start and names the variable.
    """
    anonymous = env.get("MCP_ALLOW_ANONYMOUS_ACCESS", "")
    anonymous = {"enabled": "true", "disabled": "false"}.get(anonymous.strip().lower(), anonymous)
    port = env_int(env, "MCP_HTTP_PORT", DEFAULT_HTTP_PORT)
    if port > 65535:
        raise ConfigError(f"MCP_HTTP_PORT={port}: expected a TCP port (0 picks a free one)")
    body = env_int(env, "MCP_HTTP_MAX_BODY_BYTES", 1024 * 1024, minimum=4096)
    if body > 1 << 30:
        raise ConfigError(f"MCP_HTTP_MAX_BODY_BYTES={body}: at most 1 GiB")
    scope = env.get("MCP_ANONYMOUS_SCOPE")
    return {
        "http_enabled": env_bool(env, "MCP_HTTP_ENABLED", False),
        "http_host": (env.get("MCP_HTTP_HOST") or "127.0.0.1").strip(),
        "http_port": port,
        "api_key": api_key(env),
        "allow_anonymous": env_bool(
            {"MCP_ALLOW_ANONYMOUS_ACCESS": anonymous}, "MCP_ALLOW_ANONYMOUS_ACCESS", False
        ),
        "anonymous_scope": "read write" if scope is None else scope.strip(),
        "http_max_body_bytes": body,
        "http_body_timeout_s": env_float(env, "MEMHUB_HTTP_BODY_TIMEOUT", 30.0, minimum=0.1),
    }
