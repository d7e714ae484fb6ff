"""What ``memhub doctor`` says about a team store: reachable, prepared, which model, what the
role may do, and whether the connection is encrypted. Reads only.

Each finding is ``(ok, text, fix)``: ``ok`` True, False (a failure) or None (a warning).
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any

from memhub.errors import StartupError
from memhub.storage.postgres.opening import connect_or_explain, read_meta, server_versions
from memhub.storage.postgres.privileges import missing_privileges
from memhub.storage.postgres.target import PgTarget, resolve
from memhub.storage.postgres.vectors import vector_type

Finding = tuple[bool | None, str, str]


def _local(host: str) -> bool:
    if host in ("localhost", "") or host.startswith("/"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def diagnose(url: str, embedder_name: str | None) -> list[Finding]:
    """The findings for the store ``url``; ``embedder_name`` is the configured model's name
    (None when it cannot be told without loading it)."""
    try:
        target = resolve(url, os.environ)
        conn = connect_or_explain(target)
    except StartupError as exc:
        return [(False, str(exc), "check the URL, the server, and ~/.pgpass")]
    with conn:
        return _findings(conn, target, embedder_name)


def _findings(conn: Any, target: PgTarget, embedder_name: str | None) -> list[Finding]:
    out: list[Finding] = []
    server, vector = server_versions(conn)
    if vector_type(conn) is None:
        return [
            (
                False,
                f"{target.location}: PostgreSQL {server} answers, but the database has no pgvector",
                f"memhub team init {target.url}",
            )
        ]
    out.append((True, f"{target.location}: PostgreSQL {server}, pgvector {vector}", ""))
    encrypted = bool(conn.pgconn.ssl_in_use)
    if not encrypted and not _local(target.host):
        out.append(
            (
                None,
                f"the connection to {target.host} is not encrypted",
                "add ?sslmode=verify-full to the URL (and the server's CA in ~/.postgresql/)",
            )
        )
    try:
        meta = read_meta(conn, target)
    except StartupError as exc:
        return [*out, (False, str(exc), f"memhub team init {target.url}")]
    model = meta.get("embedder", "?")
    line = f"store schema {target.schema!r}: layout {meta.get('layout')}, model {model}"
    if embedder_name is not None and embedder_name != model:
        out.append(
            (
                False,
                f"{line}; this machine is set up for {embedder_name}",
                "set MCP_EMBEDDING_MODEL / MEMHUB_EMBEDDER to the store's model",
            )
        )
    else:
        out.append((True, line, ""))
    row = conn.execute(
        f"SELECT count(*) FILTER (WHERE deleted_at IS NULL), count(*) FROM {target.schema}.memories"
    ).fetchone()
    conn.rollback()
    missing = missing_privileges(conn, target.schema)
    role = target.user or "this role"
    if missing:
        out.append(
            (
                None,
                f"role {role!r} is a read-only member (lacks {', '.join(missing)}): searches "
                f"work, writes are refused; {row[0]} memories",
                f"memhub team grant --role {role} {target.url} (as the store's admin)",
            )
        )
    else:
        out.append((True, f"role {role!r} may write; {row[0]} memories ({row[1]} rows)", ""))
    return out
