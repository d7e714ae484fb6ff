"""What the store's role may do, asked of the server before a write takes the store's lock.

A read-only member (``memhub team grant --read-only``) can take advisory locks like anyone, so
a write attempt that took the store's lock first and failed on its INSERT would still make every
other machine's writer wait for it. The write session asks here first and refuses at once with
the privilege that is missing; nothing is locked, nothing is written.
"""

from __future__ import annotations

from typing import Any, Final

import psycopg

from memhub.errors import DatabaseError
from memhub.storage.postgres.target import PgTarget

#: (privilege, kind, object) a writer needs; the object is relative to the store's schema.
NEEDED: Final = (
    ("INSERT", "table", "memories"),
    ("UPDATE", "table", "memories"),
    ("INSERT", "table", "changes"),
    ("USAGE", "sequence", "change_seq"),
)


def missing_privileges(conn: psycopg.Connection[Any], schema: str) -> list[str]:
    """The privileges of :data:`NEEDED` the connection's role lacks, as ``INSERT on s.t``."""
    checks = ", ".join(f"has_{kind}_privilege(%s, '{privilege}')" for privilege, kind, _ in NEEDED)
    names = [f"{schema}.{name}" for _, _, name in NEEDED]
    with conn.cursor() as cur:
        cur.execute(f"SELECT {checks}", names)
        row = cur.fetchone()
    if not conn.autocommit:
        conn.rollback()
    assert row is not None
    return [
        f"{privilege} on {kind} {name}"
        for (privilege, kind, _), name, granted in zip(NEEDED, names, row, strict=True)
        if not granted
    ]


def read_only_error(target: PgTarget, missing: list[str]) -> DatabaseError:
    who = target.user or "this role"
    return DatabaseError(
        f"the PostgreSQL role {who!r} may not write to {target.location}: it lacks the "
        f"{' and '.join(missing)} privilege{'s' if len(missing) > 1 else ''} (a read-only "
        "member); nothing was written, searches still work. A writer is made with "
        f"`memhub team grant --role {target.user or '<login>'} {target.url}`"
    )
