"""Naming a PostgreSQL store: its URL, where its password comes from, and its identity.

A store is a schema in a database on a server. Its URL says where (``postgresql://user@host:port/
dbname``, every libpq parameter allowed, ``sslmode`` included); the schema is ``memhub`` unless
``MEMHUB_PG_SCHEMA`` names another. Passwords never travel in a URL (it sits on command lines
and in client configurations): libpq's ``PGPASSFILE`` (``~/.pgpass``) and service file work as
always, or ``MEMHUB_DATABASE_PASSWORD_FILE`` names a file only its owner can read.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

import attrs

from memhub.errors import StartupError

DEFAULT_SCHEMA: Final = "memhub"
PASSWORD_FILE_ENV: Final = "MEMHUB_DATABASE_PASSWORD_FILE"
_SCHEMA_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def is_database_url(value: str | None) -> bool:
    return bool(value) and str(value).startswith(("postgresql://", "postgres://"))


@attrs.frozen
class PgTarget:
    """A PostgreSQL store, resolved from the settings."""

    url: str  # as given, without a password
    schema: str
    host: str
    port: int
    dbname: str
    user: str
    password: str | None = attrs.field(default=None, repr=False)

    @property
    def location(self) -> str:
        """The store as people name it (no password, ever)."""
        user = f"{self.user}@" if self.user else ""
        return f"postgresql://{user}{self.host}:{self.port}/{self.dbname}?schema={self.schema}"

    @property
    def key(self) -> str:
        """What makes two configurations one store (for locks and runtime files)."""
        ident = f"{self.host.lower()}:{self.port}/{self.dbname}/{self.schema}"
        return "pg-" + hashlib.sha256(ident.encode()).hexdigest()[:20]

    @property
    def lock_id(self) -> int:
        """The advisory lock that orders this store's commits (a signed 64-bit key)."""
        digest = hashlib.sha256(f"memhub:{self.schema}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def connect_kwargs(self) -> dict[str, Any]:
        """Extra keyword arguments for ``psycopg.connect`` besides the URL."""
        return {"password": self.password} if self.password is not None else {}


def resolve(url: str, environ: Mapping[str, str], *, with_password: bool = True) -> PgTarget:
    """The store ``url`` names, with its schema and (``with_password``) its password.

    Raises:
        StartupError: a password in the URL, an unusable schema name or password file.
    """
    parts = urlsplit(url)
    if parts.password is not None:
        raise StartupError(
            "the database URL carries a password; remove it and put it in ~/.pgpass "
            f"(PGPASSFILE) or in a file only you can read, named by {PASSWORD_FILE_ENV}"
        )
    query = dict(parse_qsl(parts.query))
    if "password" in query:
        raise StartupError(
            "the database URL carries a password= parameter; remove it and use ~/.pgpass "
            f"(PGPASSFILE) or {PASSWORD_FILE_ENV}"
        )
    schema = (environ.get("MEMHUB_PG_SCHEMA") or DEFAULT_SCHEMA).strip()
    if not _SCHEMA_NAME.fullmatch(schema):
        raise StartupError(
            f"MEMHUB_PG_SCHEMA={schema!r}: expected a lower-case SQL name (letters, digits, _)"
        )
    host = parts.hostname or query.get("host") or environ.get("PGHOST") or "localhost"
    port = parts.port or int(query.get("port") or environ.get("PGPORT") or 5432)
    dbname = (
        (parts.path or "/").lstrip("/") or query.get("dbname") or environ.get("PGDATABASE") or ""
    )
    user = parts.username or query.get("user") or environ.get("PGUSER") or ""
    return PgTarget(
        url=url,
        schema=schema,
        host=host,
        port=port,
        dbname=dbname or user,
        user=user,
        password=_password_from_file(environ) if with_password else None,
    )


def _password_from_file(environ: Mapping[str, str]) -> str | None:
    raw = environ.get(PASSWORD_FILE_ENV)
    if not raw:
        return None
    path = Path(raw).expanduser()
    try:
        st = path.stat()
    except OSError as exc:
        raise StartupError(f"{PASSWORD_FILE_ENV}={path}: cannot read it ({exc.strerror})") from None
    if stat.S_IMODE(st.st_mode) & 0o077 or st.st_uid != os.getuid():
        raise StartupError(
            f"{PASSWORD_FILE_ENV}={path}: other users may read it or it is not yours; "
            f"`chmod 600 {path}` (as libpq requires of ~/.pgpass)"
        )
    password = path.read_text(encoding="utf-8").strip("\r\n")
    if not password:
        raise StartupError(f"{PASSWORD_FILE_ENV}={path}: the file is empty")
    return password
