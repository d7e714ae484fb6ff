"""Connections to a team store: how they are opened, pooled, retried and explained.

Every connection names the daemon (``application_name``), carries TCP keepalives (so a server
that vanished without closing the socket is noticed in tens of seconds, not hours) and is
configured for the store (pgvector's type, the search path).

The read pool deliberately has no ``check=`` callback: psycopg_pool's checking loop sleeps with
its reconnect backoff once two checks in a row fail, which after a server restart made the first
query wait 6.5-7.6 s on this machine. Instead a read that finds its pooled connection dead has the
pool test every idle connection at once (``pool.check()``) and runs again on a fresh one; reads
are idempotent, so running one twice is harmless.

Errors met at connect time carry no SQLSTATE (libpq has no result to carry it), so they are
explained by their text; ``repr`` of a failed connection holds the password, so only ``str`` of
an exception is ever shown or logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Final, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.types import TypeInfo
from psycopg_pool import ConnectionPool, PoolTimeout

from memhub.errors import DatabaseError
from memhub.storage.postgres.target import PgTarget
from memhub.storage.postgres.vectors import register

log = logging.getLogger(__name__)
T = TypeVar("T")
Conn = psycopg.Connection[Any]
CONNECT_TIMEOUT_S: Final = 10
#: The longest a read waits for a pooled connection: a server that is down makes reads (and the
#: health report) fail this fast with a message naming it, instead of after the read deadline.
POOL_WAIT_S: Final = 2.0
#: How long the pool keeps trying to replace a lost connection before it gives up and shrinks
#: (the next read grows it again at once). Short, so that recovery after a long outage is bound
#: by the next read, not by a backoff that grew to many seconds (measured: 1.1 s vs 4.2 s).
POOL_RECONNECT_S: Final = 2.0
#: libpq's TCP keepalives: a dead peer is found after about idle + interval x count seconds.
KEEPALIVES: Final = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


def reason(exc: BaseException) -> str:
    """The first line of an error's text (never its repr: a connection's repr has the password)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def unreachable(target: PgTarget, exc: BaseException, what: str) -> DatabaseError:
    """The error a caller sees when the server cannot serve ``what``."""
    return DatabaseError(f"the PostgreSQL server {target.location} could not {what}: {reason(exc)}")


def explain(target: PgTarget, exc: psycopg.Error, what: str) -> DatabaseError:
    """A clear error for a failure of one statement or transaction."""
    if isinstance(exc, pg_errors.InsufficientPrivilege):
        who = target.user or "your role"
        return DatabaseError(
            f"the PostgreSQL role {who!r} may not {what} in {target.location}: "
            f"{exc.diag.message_primary or exc}; a read-only member can search but not write "
            "(ask the team's admin to grant memhub_writer)"
        )
    if isinstance(exc, pg_errors.ReadOnlySqlTransaction):
        return DatabaseError(
            f"{target.location} is read-only for this connection ({exc.diag.message_primary}); "
            "nothing was written"
        )
    if isinstance(exc, psycopg.OperationalError):
        return unreachable(target, exc, what)
    return DatabaseError(f"{target.location}: could not {what}: {exc}")


def lost(conn: Conn) -> bool:
    """Whether ``conn`` is gone (the server closed it, died, or terminated its backend)."""
    return bool(conn.closed or conn.broken)


class Connector:
    """Opens configured connections to one store (vector type, search path, keepalives)."""

    def __init__(self, target: PgTarget, vector: TypeInfo, application: str) -> None:
        self.target = target
        self._vector = vector
        self._application = application

    def _kwargs(self, options: str | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "application_name": self._application,
            "connect_timeout": CONNECT_TIMEOUT_S,
            **KEEPALIVES,
            **self.target.connect_kwargs(),
        }
        if options:
            kwargs["options"] = options
        return kwargs

    def configure(self, conn: Conn) -> None:
        register(conn, self._vector)
        with conn.cursor(binary=True) as cur:
            cur.execute(f"SET search_path TO {self.target.schema}, public")
        if not conn.autocommit:
            conn.commit()  # a pooled connection must be left idle, or the pool discards it

    def connect(self, *, autocommit: bool = False, options: str | None = None) -> Conn:
        """A new configured connection; ``options`` are session settings (``-c name=value``)."""
        conn = psycopg.connect(self.target.url, autocommit=autocommit, **self._kwargs(options))
        try:
            self.configure(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def pool(self, size: int) -> ConnectionPool[Conn]:
        return ConnectionPool(
            self.target.url,
            min_size=1,
            max_size=max(1, size),
            # Autocommit: every read is the explicit BEGIN it says, never an implicit one.
            kwargs={**self._kwargs(None), "autocommit": True},
            configure=self.configure,
            timeout=POOL_WAIT_S,
            reconnect_timeout=POOL_RECONNECT_S,
            open=True,
            name="memhub-read",
        )


def pooled(
    pool: ConnectionPool[Conn],
    work: Callable[[Conn], T],
    *,
    wait: float = POOL_WAIT_S,
    deadline: float = float("inf"),
) -> T:
    """``work`` on a pooled connection, once more on a fresh one if the first was dead.

    Only for idempotent work (reads). A statement that timed out or was refused is not retried;
    neither is anything once ``deadline`` (``time.monotonic()``) has passed.

    Raises:
        psycopg.Error: what the second attempt (or an error not caused by a lost connection)
            raised; ``PoolTimeout`` when no connection came within ``wait`` seconds.
    """
    for attempt in (1, 2):
        used: Conn | None = None
        try:
            with pool.connection(timeout=max(0.1, min(wait, deadline - time.monotonic()))) as conn:
                used = conn
                return work(conn)
        except PoolTimeout:
            raise
        except psycopg.OperationalError as exc:
            if attempt == 2 or used is None or not lost(used) or time.monotonic() > deadline:
                raise
            log.info("a pooled connection was lost (%s); trying a fresh one", reason(exc))
            pool.check()  # drop every dead idle connection at once, not one per failed read
    raise AssertionError("unreachable")  # pragma: no cover
