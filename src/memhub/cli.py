"""``memhub`` command line: serve, status, stop, bridge, ui, install, doctor, model, team, stress,
migrate.

Imports stay inside the subcommands: ``memhub bridge`` must answer its MCP client within a
second, and a second ``memhub serve`` must learn that the file is taken before it spends
seconds importing torch.
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from memhub.config import Settings
    from memhub.discovery import RuntimeInfo

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_NOT_RUNNING: Final = 3  # `status`: no daemon; `serve`: another daemon holds the file
#: What a Unix tool killed by SIGPIPE exits with (128 + 13): its reader went away (`| head`).
EXIT_CLOSED_STDOUT: Final = 141


def _err(message: str) -> None:
    print(f"memhub: {message}", file=sys.stderr, flush=True)


def _settings(db: str | None) -> Settings:
    from memhub.config import ConfigError, Settings

    try:
        return Settings.from_env(db=db)
    except ConfigError as exc:
        _err(str(exc))
        raise SystemExit(EXIT_USAGE) from None


def _stderr_is(path: Path) -> bool:
    try:
        ours, theirs = os.fstat(sys.stderr.fileno()), os.stat(path)
    except (OSError, ValueError):
        return False
    return (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino)


def setup_logging(level: str, log_file: Path | None) -> None:
    """Log to stderr and, for the daemon, to a rotating file beside the database."""
    handlers: list[logging.Handler] = []
    if log_file is None or not _stderr_is(log_file):
        # A daemon started by a bridge has stderr pointed at the log file already.
        handlers.append(logging.StreamHandler(sys.stderr))
    if log_file is not None:
        try:
            handlers.append(
                logging.handlers.RotatingFileHandler(
                    log_file, maxBytes=5 * 1024 * 1024, backupCount=3, encoding="utf-8"
                )
            )
        except OSError as exc:
            _err(f"cannot write the log file {log_file}: {exc}")
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s",
        handlers=handlers,
        force=True,
    )


# ---------------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    # Before numpy or torch load: the model and the vector search share two cores and run one
    # after the other, so spinning idle threads only steal time from the next step (measured:
    # search p50 at 10k memories 30 ms -> 17 ms with both; see docs/benchmarks.md).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from contextlib import ExitStack

    import attrs

    from memhub.discovery.claim import claim_store

    # Whatever the daemon creates (database, -wal, -shm, log, directories) is private: memories
    # are nobody else's business. Existing files keep their modes (SQLite gives -wal and -shm
    # the database file's mode).
    os.umask(0o077)
    settings = _settings(args.db)
    settings = attrs.evolve(
        settings,
        port=settings.port if args.port is None else args.port,
        host=settings.host if args.host is None else args.host,
        embedder=settings.embedder if args.embedder is None else args.embedder,
        idle_shutdown_s=(
            settings.idle_shutdown_s if args.idle_shutdown is None else args.idle_shutdown
        ),
    )
    with ExitStack() as held:
        refusal = claim_store(settings, held)
        if refusal is not None:
            _err(refusal.message)
            return refusal.code
        setup_logging(settings.log_level, settings.paths.log)
        return _serve_locked(settings)


def _serve_locked(settings: Settings) -> int:
    import trio

    from memhub.daemon import DaemonHandle, run_daemon
    from memhub.errors import StartupError

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            handle: DaemonHandle = await nursery.start(
                lambda task_status: run_daemon(
                    settings, handle_signals=True, task_status=task_status
                )
            )
            print(
                f"memhub {handle.welcome.server_version}: serving {handle.welcome.store} "
                f"on ws://{settings.host}:{handle.port} (pid {os.getpid()}, "
                f"embedder {handle.welcome.embedder})"
                + (f"; HTTP (REST + MCP) on {handle.http_url}" if handle.http_url else ""),
                flush=True,
            )

    failures: list[str] = []
    try:
        trio.run(main)
    except* StartupError as group:
        failures.extend(str(exc) for exc in _leaves(group))
    except* KeyboardInterrupt:
        pass
    for message in failures:
        logging.getLogger("memhub").error("%s", message)
        _err(message)
    return EXIT_ERROR if failures else EXIT_OK


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for exc in group.exceptions:
        found.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return found


def cmd_status(args: argparse.Namespace) -> int:
    import trio

    from memhub.discovery.control import fetch_health

    settings = _settings(args.db)
    report = trio.run(fetch_health, settings.store)
    location = settings.store.location
    older = _older_daemon(settings) if report is None else None
    if older is not None:
        data_old = {
            "running": True,
            "older": True,
            "pid": older.pid,
            "port": older.port,
            "db_path": older.db_path,
            "version": older.version,
            "protocol": older.protocol,
        }
        if args.json:
            print(json.dumps(data_old))
        else:
            print(
                f"memhub {older.version} (protocol {older.protocol}), an older release than "
                f"this one, serves {location} (pid {older.pid}); the next bridge of this "
                "release replaces it, or stop it with `memhub stop`"
            )
        return EXIT_OK
    if report is None:
        note = _model_export_note(settings)
        if args.json:
            data = {"running": False, "db_path": location}
            print(json.dumps({**data, "model_export_pending": note is not None}))
        else:
            print(f"memhub: no daemon serves {location}")
            if note is not None:
                print(f"memhub: {note}")
        return EXIT_NOT_RUNNING
    info, health = report
    data = {
        "running": True,
        "pid": info.pid,
        "port": info.port,
        "db_path": info.db_path,
        "engine": health.store.engine,
        "machine": health.machine,
        "version": info.version,
        "protocol": info.protocol,
        "connected_clients": health.connected_clients,
        "memories": health.total_memories,
        "schema": health.store.schema,
        "embedder": health.embedder.name,
        "uptime_s": round(health.uptime_s, 1),
        "log_path": info.log_path,
    }
    if args.json:
        print(json.dumps(data))
    else:
        width = max(len(k) for k in data)
        for key, value in data.items():
            print(f"{key:<{width}}  {value}")
    return EXIT_OK


def _older_daemon(settings: Settings) -> RuntimeInfo | None:
    """The runtime info of a live daemon of an older protocol serving this store, if one does."""
    from memhub import PROTOCOL_VERSION
    from memhub.discovery import lock_is_held, pid_alive, read_runtime_file, serving_paths

    paths = serving_paths(settings.db_path)
    info = read_runtime_file(paths.runtime)
    if info is None or info.protocol >= PROTOCOL_VERSION or not pid_alive(info.pid):
        return None
    return info if lock_is_held(paths.lock) else None


def _model_export_note(settings: Settings) -> str | None:
    """That the daemon's next start first exports the model (10-60 s), if it does."""
    from memhub.embedding.model_cli import export_note

    return export_note(settings)


def cmd_stop(args: argparse.Namespace) -> int:
    import trio

    from memhub.discovery.control import stop_daemon

    settings = _settings(args.db)
    stopped = trio.run(stop_daemon, settings.store, args.timeout)
    location = settings.store.location
    if stopped is None:
        print(f"memhub: no daemon serves {location}")
        return EXIT_NOT_RUNNING
    if not stopped:
        _err(f"the daemon for {location} did not stop within {args.timeout:g} s")
        return EXIT_ERROR
    print(f"memhub: stopped the daemon for {location}")
    return EXIT_OK


def cmd_bridge(args: argparse.Namespace) -> int:
    from memhub.mcp_bridge.main import run_bridge

    return run_bridge(args.db)


def cmd_ui(args: argparse.Namespace) -> int:
    import trio

    from memhub.discovery import running_as_daemon_of
    from memhub.errors import ServiceError
    from memhub.webui.launch import LaunchError
    from memhub.webui.opener import open_in_browser, print_link

    settings = _settings(args.db)
    if running_as_daemon_of(settings.db_path) is None:
        note = _model_export_note(settings)
        if note is not None:
            # The daemon this starts exports first: without a word the wait looks like a hang.
            _err(f"starting the daemon; {note}")
    try:
        if args.print_url:
            print(trio.run(print_link, args.db), flush=True)
            return EXIT_OK
        # The link goes to the browser through a private file, never on a command line.
        opened = trio.run(
            open_in_browser, args.db, lambda line: print(f"memhub: {line}", flush=True)
        )
    except ServiceError as exc:
        _err(exc.message)
        return EXIT_ERROR
    except LaunchError as exc:
        _err(str(exc))
        return EXIT_ERROR
    return EXIT_OK if opened else EXIT_ERROR


def cmd_team(args: argparse.Namespace) -> int:
    from memhub.team import main_team

    return main_team(args.action, args.url, role=args.role, read_only=args.read_only)


def cmd_install(args: argparse.Namespace) -> int:
    if args.client == "service":
        from memhub.mcp_bridge.install_service import main_install_service

        return main_install_service(print_only=args.print_only, now=args.now, db=args.db)
    if args.client == "claude-hooks":
        from memhub.mcp_bridge.install_hooks import main_install_hooks

        return main_install_hooks(print_only=args.print_only)
    from memhub.mcp_bridge.install import main_install

    return main_install(args.client, print_only=args.print_only, db=args.db, name=args.name)


def cmd_doctor(args: argparse.Namespace) -> int:
    from memhub.mcp_bridge.doctor import main_doctor

    return main_doctor(args.db, deep=args.deep)


def cmd_model(args: argparse.Namespace) -> int:
    from memhub.embedding.model_cli import main_model

    return main_model(args.action, db=args.db, force=args.force, as_json=args.json)


def build_parser() -> argparse.ArgumentParser:
    from memhub import __version__

    parser = argparse.ArgumentParser(
        prog="memhub",
        description="One shared memory daemon for every MCP client (drop-in for "
        "mcp-memory-service).",
    )
    parser.add_argument("--version", action="version", version=f"memhub {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def db_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--db",
            help="database file or team store URL postgresql://user@host/db (default: "
            "MEMHUB_DATABASE_URL, MCP_MEMORY_SQLITE_PATH, MCP_MEMORY_SQLITEVEC_PATH, or "
            "<MCP_MEMORY_BASE_DIR>/sqlite_vec.db)",
        )

    p = sub.add_parser("serve", help="run the daemon for one database in the foreground")
    db_arg(p)
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 0: pick a free one)")
    p.add_argument("--embedder", choices=("model", "hash"), help="hash: tests and stress only")
    p.add_argument("--idle-shutdown", type=float, help="stop after N seconds without clients")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("status", help="is a daemon serving the database? (exit 3 if not)")
    db_arg(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("stop", help="stop the daemon gracefully (drain, commit, checkpoint)")
    db_arg(p)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait (default 60)")
    p.set_defaults(func=cmd_stop)

    p = sub.add_parser("bridge", help="stdio MCP server for one Claude app (starts the daemon)")
    db_arg(p)
    p.set_defaults(func=cmd_bridge)

    p = sub.add_parser("ui", help="open the web UI in a browser (starts the daemon)")
    db_arg(p)
    p.add_argument(
        "--print-url",
        action="store_true",
        help="print the one-time link (it is a secret until used), open nothing",
    )
    p.set_defaults(func=cmd_ui)

    p = sub.add_parser(
        "install",
        help="add memhub to a client's MCP configuration, run it at login (service), or point "
        "mcp-memory-service's hooks at it (claude-hooks)",
    )
    p.add_argument(
        "client", choices=("claude-desktop", "claude-code", "cursor", "service", "claude-hooks")
    )
    p.add_argument("--print", dest="print_only", action="store_true", help="print, write nothing")
    p.add_argument("--now", action="store_true", help="service: also enable and start it")
    p.add_argument("--name", default="memory", help="server name in the config (default memory)")
    db_arg(p)
    p.set_defaults(func=cmd_install)

    p = sub.add_parser("doctor", help="check the setup and say what to fix")
    db_arg(p)
    p.add_argument("--deep", action="store_true", help="also load the embedding model")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("model", help="see (status) or rebuild (export) the cached ONNX model")
    p.add_argument("action", choices=("status", "export"))
    db_arg(p)
    p.add_argument("--force", action="store_true", help="export: rebuild even if it verifies")
    p.add_argument("--json", action="store_true", help="status: machine-readable output")
    p.set_defaults(func=cmd_model)

    p = sub.add_parser("team", help="prepare a PostgreSQL team store, or grant a member access")
    # One parser per action: a lone optional positional after `--read-only` is then the URL
    # (with `action url?` side by side, argparse gave the URL to nobody).
    actions = p.add_subparsers(dest="action", required=True)
    for action, text in (("init", "prepare the store"), ("grant", "make a role a member")):
        a = actions.add_parser(action, help=text)
        a.add_argument(
            "url", nargs="?", help="postgresql://admin@host/db (default MEMHUB_DATABASE_URL)"
        )
        a.add_argument("--role", help="grant: the member's PostgreSQL login role")
        a.add_argument(
            "--read-only", action="store_true", help="grant: search only, no writes (memhub_reader)"
        )
        a.set_defaults(func=cmd_team)

    sub.add_parser(
        "stress", help="multi-client stress test (see `memhub stress --help`)", add_help=False
    )
    sub.add_parser(
        "migrate",
        help="copy memories between a SQLite file and a team store (see `memhub migrate --help`)",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``memhub`` command; a reader that stops reading (``| head``) ends it quietly.

    Python ignores SIGPIPE, so a write to a closed stdout raises BrokenPipeError, which would
    end the command with a traceback (and again at exit, flushing). Restoring SIGPIPE's default
    instead would also kill the daemon and the bridge on any write to a closed socket, so the
    error is caught here, the rest of the output goes to /dev/null, and the exit code is the
    one a tool killed by SIGPIPE has.
    """
    try:
        code = _run(argv)
        sys.stdout.flush()  # inside the try: a pipe closed after the last print fails here
        return code
    except BaseException as exc:
        if not _only_broken_pipes(exc):
            raise
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # what is still buffered must not fail at exit
    os.close(devnull)
    return EXIT_CLOSED_STDOUT


def _only_broken_pipes(exc: BaseException) -> bool:
    """Whether ``exc`` is a BrokenPipeError, or a group of nothing else (a print in trio.run)."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_only_broken_pipes(inner) for inner in exc.exceptions)
    return isinstance(exc, BrokenPipeError)


def _run(argv: Sequence[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["stress"]:
        from memhub.stress.cli import main_stress

        stress_code: int = main_stress(args_list[1:])
        return stress_code
    if args_list[:1] == ["migrate"]:
        from memhub.migrate import main_migrate

        return main_migrate(args_list[1:])
    parser = build_parser()
    args = parser.parse_args(args_list)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
