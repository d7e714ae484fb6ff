"""The test PostgreSQL server is real: TCP + password, pgvector, and it survives crashes."""

from __future__ import annotations

import subprocess
from typing import Literal

import numpy as np
import psutil
import psycopg
import pytest

from tests.pgserver import HOST, PgDatabase, PgServer, bin_dir


def test_listens_on_tcp_with_scram_and_nothing_else(pg_server: PgServer, pg_db: PgDatabase):
    with psycopg.connect(pg_db.url) as conn:
        row = conn.execute(
            "SELECT host(inet_server_addr()), inet_server_port(), current_user,"
            " current_setting('unix_socket_directories'), current_setting('password_encryption')"
        ).fetchone()
        assert row == (HOST, pg_server.port, "postgres", "", "scram-sha-256")
        methods = conn.execute(
            "SELECT DISTINCT type, auth_method FROM pg_hba_file_rules ORDER BY 1"
        ).fetchall()
        assert methods == [("host", "scram-sha-256"), ("local", "scram-sha-256")]
        stored = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'")
        assert str(stored.fetchone()[0]).startswith("SCRAM-SHA-256$")  # type: ignore[index]


def test_no_password_on_any_command_line(pg_server: PgServer):
    postmaster = psutil.Process(pg_server.postmaster_pid)
    procs = [postmaster, *postmaster.children(recursive=True)]
    assert len(procs) > 3  # postmaster, checkpointer, background writer, walwriter, ...
    for proc in procs:
        try:
            cmdline = " ".join(proc.cmdline())
        except psutil.NoSuchProcess:  # a backend of an earlier test's connection, just exited
            continue
        assert pg_server.password not in cmdline


def test_a_child_process_connects_through_the_passfile(pg_server: PgServer):
    out = subprocess.run(
        [str(bin_dir() / "psql"), "-X", "-A", "-t", "-c", "SELECT 40 + 2"],
        env=pg_server.env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert out.stdout.strip() == "42"


def test_wrong_password_is_refused(pg_server: PgServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    with pytest.raises(
        psycopg.OperationalError, match='password authentication failed for user "postgres"'
    ):
        psycopg.connect(pg_server.url(password="not-the-password"), connect_timeout=10)
    with pytest.raises(psycopg.OperationalError, match="fe_sendauth: no password supplied"):
        psycopg.connect(
            host=HOST,
            port=pg_server.port,
            user="postgres",
            passfile="/dev/null",
            connect_timeout=10,
        )
    psycopg.connect(pg_server.admin_url, connect_timeout=10).close()


def test_pgvector_384_round_trip(pg_db: PgDatabase):
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((3, 384)).astype(np.float32)
    query = rng.standard_normal(384).astype(np.float32)

    def literal(v: np.ndarray) -> str:
        return "[" + ",".join(repr(float(x)) for x in v) + "]"

    with psycopg.connect(pg_db.url) as conn:
        version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        assert version.fetchone() == ("0.8.6",)
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, embedding vector(384) NOT NULL)")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO items VALUES (%s, %s::vector)",
                [(i, literal(v)) for i, v in enumerate(vectors)],
            )
        rows = conn.execute(
            "SELECT id, embedding::text, embedding <=> %s::vector FROM items ORDER BY id",
            [literal(query)],
        ).fetchall()
    assert [r[0] for r in rows] == [0, 1, 2]
    back = np.array([np.array(r[1][1:-1].split(","), dtype=np.float32) for r in rows])
    assert back.shape == (3, 384)
    assert np.array_equal(back, vectors)  # float32 values survive the text format exactly
    cosine = 1 - vectors @ query / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
    assert np.allclose([r[2] for r in rows], cosine, atol=1e-6)


Crash = Literal["kill9-postmaster", "kill9-all", "stop-immediate"]


@pytest.mark.parametrize("crash", ["kill9-postmaster", "kill9-all", "stop-immediate"])
def test_crash_and_restart_keep_committed_data(pg_private: PgServer, crash: Crash):
    db = pg_private.create_database(f"crash_{crash.replace('-', '_')}")
    port = pg_private.port
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO t SELECT g, 'committed' FROM generate_series(1, 1000) g")
    in_flight = psycopg.connect(db.url)  # a transaction open at the crash: must vanish
    in_flight.execute("INSERT INTO t VALUES (0, 'never committed')")
    old_pid = pg_private.postmaster_pid
    log_size = pg_private.logfile.stat().st_size

    if crash == "stop-immediate":
        pg_private.stop("immediate")
    else:
        pg_private.kill9(all_processes=crash == "kill9-all")
    assert not psutil.pid_exists(old_pid) or psutil.Process(old_pid).status() == "zombie"
    with pytest.raises(psycopg.OperationalError):
        in_flight.execute("SELECT 1")
    in_flight.close()
    with pytest.raises(psycopg.OperationalError, match="Connection refused"):
        psycopg.connect(db.url, connect_timeout=5)

    pg_private.start()
    assert pg_private.port == port
    assert pg_private.postmaster_pid != old_pid
    with psycopg.connect(db.url) as conn:
        assert conn.execute("SELECT count(*), min(id), max(id) FROM t").fetchone() == (
            1000,
            1,
            1000,
        )
    log = pg_private.logfile.read_bytes()[log_size:].decode()
    assert "automatic recovery in progress" in log, log
