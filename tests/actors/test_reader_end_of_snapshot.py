"""A read snapshot that cannot be ended fails that one request, never the reader or the daemon.

The failure is injected with SQLite's own statement hook (apsw's exec tracer), on a real
read-only connection of a real ReaderPool: the read's COMMIT is refused, then the ROLLBACK
that follows it too. Before the fix the ROLLBACK's exception escaped the reader's thread and
took the whole daemon down.
"""

from __future__ import annotations

from typing import Any

import apsw
import pytest

from memhub.actors.reader import ReaderPool
from memhub.errors import DatabaseError
from memhub.storage.engine import Snapshot

from .helpers import conn_of, open_rw, plain_reader


def refuse_once(conn: apsw.Connection, *statements: str) -> None:
    """Make each of ``statements`` fail the next time it runs on ``conn`` (once each)."""
    pending = set(statements)

    def tracer(_cursor: Any, sql: str, _bindings: Any) -> bool:
        word = sql.strip().split()[0].upper()
        if word in pending:
            pending.discard(word)
            return False  # apsw raises ExecTraceAbort for this statement
        return True

    conn.exec_trace = tracer


async def test_a_read_whose_commit_and_rollback_fail_is_a_database_error_and_the_reader_lives(
    tmp_path, nursery
):
    path = tmp_path / "r.db"
    conn = open_rw(path)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (42)")
    pool = ReaderPool(plain_reader(path, {"busy_timeout": "5000"}), readers=1, query_timeout_s=5)
    await nursery.start(pool.run)

    def sabotaged(snapshot: Snapshot) -> list[Any]:
        c = conn_of(snapshot)
        refuse_once(c, "COMMIT", "ROLLBACK")
        return c.execute("SELECT x FROM t").fetchall()

    with pytest.raises(DatabaseError, match="could not be read"):
        await pool.submit(sabotaged)
    # The same (only) reader answers the next query from a fresh snapshot.
    assert await pool.submit(lambda s: conn_of(s).execute("SELECT x FROM t").fetchall()) == [(42,)]
    conn.execute("INSERT INTO t VALUES (43)")
    rows = await pool.submit(lambda s: conn_of(s).execute("SELECT x FROM t ORDER BY x").fetchall())
    assert rows == [(42,), (43,)]
    pool.close()
    conn.close()
