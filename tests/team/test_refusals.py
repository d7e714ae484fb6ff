"""Team stores that must be refused, each with a clear error and nothing written.

A read-only member's daemon searches but refuses writes, naming the missing privilege, without
ever taking the store's write lock (which would make every writer wait for it); a wrong password,
a store of another model and a database or server without pgvector stop the daemon (or ``memhub
team init``) at once with a message that says what to fix.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from memhub.errors import DatabaseError
from memhub.protocol import messages as m
from memhub.storage.postgres.target import resolve
from memhub.stress.machines import Machine, team_machines
from memhub.transport.client import open_daemon_client
from tests.daemon.helpers import daemon_env
from tests.pgserver import PgServer

from .harness import fresh_store, wait_for

SCHEMA = "memhub"


def passfile(tmp_path: Path, server: PgServer, *entries: tuple[str, str]) -> Path:
    """A 0600 libpq password file: the superuser's entry plus ``(role, password)`` ones."""
    path = tmp_path / f"pgpass-{len(list(tmp_path.glob('pgpass-*')))}"
    lines = [f"127.0.0.1:{server.port}:*:{role}:{password}" for role, password in entries]
    path.write_text(server.passfile.read_text() + "".join(line + "\n" for line in lines))
    path.chmod(0o600)
    return path


def login_role(server: PgServer, role: str, password: str) -> None:
    with server.connect() as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")


def serve(url: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``memhub serve --db url`` that must fail: its exit status and stderr."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "memhub", "serve", "--db", url],
        env=daemon_env({"HOME": str(home), "MEMHUB_STATE_DIR": str(home / "state"), **env}),
        capture_output=True,
        text=True,
        timeout=120,
    )


def memhub_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memhub", *args],
        env=daemon_env(env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def rows(server: PgServer, dbname: str, sql: str) -> list[tuple[Any, ...]]:
    with server.connect(dbname) as conn:
        return list(conn.execute(sql).fetchall())


@contextmanager
def machines(url: str, tmp_path: Path, env: dict[str, str], count: int) -> Iterator[list[Machine]]:
    """``count`` daemons on ``url`` as separate machines (each gets ``env`` on top)."""
    started = team_machines(count, url, SCHEMA, daemon_env(env), tmp_path / "machines")
    try:
        for machine in started:
            machine.spawn()
        for machine in started:
            machine.wait_ready()
        yield started
    finally:
        for machine in started:
            machine.stop()


def ask(machine: Machine, request: m.Request) -> Any:
    info = machine.info
    assert info is not None

    async def go() -> Any:
        with trio.fail_after(30):
            async with open_daemon_client(info.url, info.token, client_name="test") as client:
                try:
                    return await client.call(request)
                except Exception as exc:
                    return exc

    return trio.run(go)


def test_a_read_only_member_searches_and_never_takes_the_lock(
    pg_server: PgServer, tmp_path: Path
) -> None:
    url = fresh_store(pg_server)
    dbname = url.rsplit("/", 1)[1]
    login_role(pg_server, "alice_ro", "alice-secret")
    granted = memhub_cli(
        "team",
        "grant",
        "--role",
        "alice_ro",
        "--read-only",
        url,
        env={"PGPASSFILE": str(pg_server.passfile)},
    )
    assert granted.returncode == 0, granted.stderr
    assert "read-only" in granted.stdout
    pw = passfile(tmp_path, pg_server, ("alice_ro", "alice-secret"))
    alice_url = url.replace("postgresql://postgres@", "postgresql://alice_ro@")
    with (
        machines(url, tmp_path / "writer", {"PGPASSFILE": str(pw)}, 1) as (writer,),
        machines(alice_url, tmp_path / "alice", {"PGPASSFILE": str(pw)}, 1) as (reader,),
    ):
        stored = ask(writer, m.Store(id=0, content="the release train leaves on thursdays"))
        assert isinstance(stored, m.Stored)
        lock_id = resolve(url, {**os.environ, "MEMHUB_PG_SCHEMA": SCHEMA}).lock_id
        with pg_server.connect(dbname) as holder:
            # Whoever took the store's lock now would wait for this connection.
            holder.execute("SELECT pg_advisory_lock(%s)", (lock_id,))
            started = time.monotonic()
            refused = ask(reader, m.Store(id=0, content="alice tries to write"))
            took = time.monotonic() - started
            waiting = rows(
                pg_server,
                dbname,
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                "WHERE a.usename = 'alice_ro' AND l.locktype = 'advisory'",
            )
            holder.execute("SELECT pg_advisory_unlock(%s)", (lock_id,))
        assert isinstance(refused, DatabaseError), refused
        assert "INSERT on table memhub.memories" in refused.message
        assert "'alice_ro'" in refused.message
        assert "read-only" in refused.message
        assert "nothing was written" in refused.message
        assert took < 5, f"the refusal took {took:.1f} s: did it wait for the lock?"
        assert waiting == [(0,)]
        found = ask(reader, m.Search(id=0, query="release train", limit=3))
        assert isinstance(found, m.SearchResult)
        assert [h.memory.content for h in found.hits] == ["the release train leaves on thursdays"]
        assert rows(pg_server, dbname, "SELECT count(*) FROM memhub.memories") == [(1,)]
        assert rows(pg_server, dbname, "SELECT count(*) FROM memhub.changes") == [(1,)]
        # Made a writer, the same daemon writes without a restart.
        promoted = memhub_cli(
            "team", "grant", "--role", "alice_ro", url, env={"PGPASSFILE": str(pg_server.passfile)}
        )
        assert promoted.returncode == 0, promoted.stderr

        def write() -> m.Stored | None:
            reply = ask(reader, m.Store(id=0, content="alice writes at last"))
            return reply if isinstance(reply, m.Stored) else None

        wait_for("the promoted member's write", write, timeout=30)


def test_a_wrong_password_is_refused_and_never_shown(pg_server: PgServer, tmp_path: Path) -> None:
    url = fresh_store(pg_server)
    dbname = url.rsplit("/", 1)[1]
    login_role(pg_server, "bob_pw", "the-right-one")
    bob_url = url.replace("postgresql://postgres@", "postgresql://bob_pw@")
    wrong = passfile(tmp_path, pg_server, ("bob_pw", "not-bobs-password"))
    done = serve(bob_url, {"PGPASSFILE": str(wrong)}, tmp_path)
    assert done.returncode == 1, done.stderr
    assert "refused the password of role 'bob_pw'" in done.stderr
    assert f"127.0.0.1:{pg_server.port}/{dbname}" in done.stderr
    assert "not-bobs-password" not in done.stderr
    secret = tmp_path / "bob.password"
    secret.write_text("still-not-bobs\n")
    secret.chmod(0o600)
    done = serve(bob_url, {"MEMHUB_DATABASE_PASSWORD_FILE": str(secret)}, tmp_path)
    assert done.returncode == 1
    assert "refused the password of role 'bob_pw'" in done.stderr
    assert "still-not-bobs" not in done.stderr
    done = serve(url.replace("postgres@", "postgres:hunter2@"), {}, tmp_path)
    assert done.returncode == 1
    assert "carries a password" in done.stderr
    assert "hunter2" not in done.stderr
    assert rows(pg_server, dbname, "SELECT count(*) FROM memhub.changes") == [(0,)]


def test_a_store_of_another_model_is_refused(pg_server: PgServer, tmp_path: Path) -> None:
    url = fresh_store(pg_server, embedder="sentence-transformers:all-MiniLM-L6-v2")
    done = serve(url, {"PGPASSFILE": str(pg_server.passfile)}, tmp_path)
    assert done.returncode == 1, done.stderr
    assert "sentence-transformers:all-MiniLM-L6-v2" in done.stderr
    assert "hash:v1" in done.stderr
    other = fresh_store(pg_server, embedder="big-model", dimension=768)
    done = serve(other, {"PGPASSFILE": str(pg_server.passfile)}, tmp_path)
    assert done.returncode == 1
    assert "768-dimensional" in done.stderr
    for store in (url, other):
        assert rows(pg_server, store.rsplit("/", 1)[1], "SELECT count(*) FROM memhub.changes") == [
            (0,)
        ]


def test_a_database_without_pgvector(pg_server: PgServer, tmp_path: Path) -> None:
    pg_server.create_database("no_vector_here", vector=False)
    url = pg_server.passwordless_url(dbname="no_vector_here")
    done = serve(url, {"PGPASSFILE": str(pg_server.passfile)}, tmp_path)
    assert done.returncode == 1
    assert "has no pgvector extension" in done.stderr
    assert "memhub team init" in done.stderr
    # An admin who is not a superuser cannot create the extension: told so, nothing created.
    login_role(pg_server, "carol_admin", "carol-pw")
    with pg_server.connect("no_vector_here") as conn:
        conn.execute("GRANT CREATE ON DATABASE no_vector_here TO carol_admin")
    pw = passfile(tmp_path, pg_server, ("carol_admin", "carol-pw"))
    carol = url.replace("postgresql://postgres@", "postgresql://carol_admin@")
    init = memhub_cli("team", "init", carol, env={"PGPASSFILE": str(pw)})
    assert init.returncode == 1
    assert "may not install it" in init.stderr
    assert "CREATE EXTENSION vector" in init.stderr
    assert rows(
        pg_server, "no_vector_here", "SELECT count(*) FROM pg_namespace WHERE nspname = 'memhub'"
    ) == [(0,)]


@pytest.mark.slow
def test_a_server_without_pgvector(tmp_path: Path) -> None:
    # PostgreSQL 18 looks for extensions only where extension_control_path says: an empty
    # directory makes a server on which pgvector is not installed. (World-readable: as root,
    # the server runs as another user.)
    empty = Path(tempfile.mkdtemp(prefix="memhub-no-extensions-"))
    empty.chmod(0o755)
    settings = {"extension_control_path": f"'{empty}'"}
    with PgServer.create(tmp_path, settings=settings) as server:
        server.create_database("plain", vector=False)
        url = server.passwordless_url(dbname="plain")
        init = memhub_cli("team", "init", url, env={"PGPASSFILE": str(server.passfile)})
        assert init.returncode == 1
        assert "this server has no pgvector" in init.stderr
        assert "install pgvector on the server" in init.stderr
        with server.connect("plain") as conn:
            found = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'memhub'")
            assert found.fetchall() == [(0,)]
    empty.rmdir()
