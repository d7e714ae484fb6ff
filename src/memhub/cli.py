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

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_NOT_RUNNING: Final = 3  # `status`: no daemon; `serve`: another daemon holds the file


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
    from memhub.discovery import DaemonLock, read_runtime_file
    from memhub.discovery.identity import FileIdentity, claim_file

    # Whatever the daemon creates (database, -wal, -shm, log, directories) is private: memories
    # are nobody else's business. Existing files keep their modes (SQLite gives -wal and -shm
    # the database file's mode).
    os.umask(0o077)
    settings = _settings(args.db)
    import attrs

    settings = attrs.evolve(
        settings,
        port=settings.port if args.port is None else args.port,
        host=settings.host if args.host is None else args.host,
        embedder=settings.embedder if args.embedder is None else args.embedder,
        idle_shutdown_s=(
            settings.idle_shutdown_s if args.idle_shutdown is None else args.idle_shutdown
        ),
    )
    paths = settings.paths
    try:
        settings.db_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _err(f"{settings.db_path.parent}: cannot create the database directory: {exc}")
        return EXIT_ERROR
    lock = DaemonLock(paths.lock)
    try:
        acquired = lock.acquire()
    except OSError as exc:  # a read-only or foreign data directory: one line, no traceback
        _err(
            f"{paths.lock}: cannot create the daemon's lock file ({exc.strerror}); memhub needs "
            f"write access to {settings.db_path.parent}"
        )
        return EXIT_ERROR
    if not acquired:
        info = read_runtime_file(paths.runtime)
        where = f" (pid {info.pid}, port {info.port})" if info else ""
        _err(f"a daemon already serves {settings.store.location}{where}; see `memhub status`")
        return EXIT_NOT_RUNNING
    if settings.database_url is not None:
        # A team store has no file here: the lock in the state directory is the one claim.
        try:
            setup_logging(settings.log_level, paths.log)
            return _serve_locked(settings)
        finally:
            lock.release()
    try:
        try:
            # An empty file is a new database to SQLite; creating it here gives it an identity
            # to lock before any other daemon could open it under another name.
            os.close(os.open(settings.db_path, os.O_RDONLY | os.O_CREAT, 0o600))
            identity = FileIdentity.of(settings.db_path)
            claim = claim_file(settings.db_path, identity) if identity else None
        except OSError as exc:
            _err(f"{settings.db_path}: cannot open the database file: {exc}")
            return EXIT_ERROR
        if isinstance(claim, Path):
            _err(
                f"{settings.db_path} is the same file as {claim}, which a daemon already "
                f"serves; use that path (or `memhub status --db {claim}`)"
            )
            return EXIT_NOT_RUNNING
        try:
            setup_logging(settings.log_level, paths.log)
            return _serve_locked(settings)
        finally:
            if claim is not None:
                claim.release()
    finally:
        lock.release()


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
                f"embedder {handle.welcome.embedder})",
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
    if report is None:
        if args.json:
            print(json.dumps({"running": False, "db_path": location}))
        else:
            print(f"memhub: no daemon serves {location}")
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

    from memhub.errors import ServiceError

    try:
        url = trio.run(_browser_url, args.db)
    except ServiceError as exc:
        _err(exc.message)
        return EXIT_ERROR
    if args.print_url:
        print(url, flush=True)
        return EXIT_OK
    import webbrowser

    print("memhub: opening the web UI (the link works once, within 60 s)", flush=True)
    if not webbrowser.open(url):
        print(f"memhub: open this link in your browser: {url}", flush=True)
    return EXIT_OK


async def _browser_url(db: str | None) -> str:
    """A one-time link to the web UI, starting the daemon first if none runs (as a bridge does).

    Raises:
        ServiceError: no daemon could be reached or started, or it refused the ticket.
    """
    import trio

    from memhub.discovery import read_runtime_file
    from memhub.errors import InternalError
    from memhub.mcp_bridge.connection import DaemonLink, LinkSettings
    from memhub.protocol import messages as m

    async with trio.open_nursery() as nursery:
        link = DaemonLink(LinkSettings.from_env(db, client_name="memhub-ui"), nursery)
        delivery = await link.call(m.IssueTicket(id=0))
        link.close()
    if delivery.error is not None:
        raise delivery.error
    info = read_runtime_file(link.paths.runtime)
    if not isinstance(delivery.reply, m.Ticket) or info is None:
        raise InternalError("the daemon did not hand out a ticket; is it older than this memhub?")
    # The ticket rides in the fragment: browsers never send it to the server or into logs.
    host = f"[{info.host}]" if ":" in info.host else info.host
    return f"http://{host}:{info.port}/#ticket={delivery.reply.ticket}"


def cmd_team(args: argparse.Namespace) -> int:
    from memhub.team import main_team

    return main_team(args.action, args.url, role=args.role, read_only=args.read_only)


def cmd_install(args: argparse.Namespace) -> int:
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
    p.add_argument("--print-url", action="store_true", help="print the one-time link, open nothing")
    p.set_defaults(func=cmd_ui)

    p = sub.add_parser("install", help="add memhub to a client's MCP configuration")
    p.add_argument("client", choices=("claude-desktop", "claude-code", "cursor"))
    p.add_argument("--print", dest="print_only", action="store_true", help="print, write nothing")
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
