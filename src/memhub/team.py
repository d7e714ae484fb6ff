"""``memhub team``: prepare a PostgreSQL store that several machines share, and grant access.

``init`` runs once, as a role that may create the schema (and the pgvector extension if it is
not installed yet): extension, tables, the meta row that pins the embedding model, and the
``memhub_writer`` / ``memhub_reader`` group roles. ``grant`` makes an existing login role a
writer or a read-only member. Passwords never appear here: libpq reads them from ``~/.pgpass``
(PGPASSFILE), a service file, or ``MEMHUB_DATABASE_PASSWORD_FILE``.
"""

from __future__ import annotations

import os
import sys

from memhub.config import DATABASE_URL_ENV, Settings
from memhub.errors import StartupError

EXIT_OK, EXIT_ERROR = 0, 1


def main_team(action: str, url: str | None, *, role: str | None, read_only: bool) -> int:
    url = url or os.environ.get(DATABASE_URL_ENV)
    if not url:
        print(
            f"memhub team {action}: give the store's URL or set {DATABASE_URL_ENV}", file=sys.stderr
        )
        return EXIT_ERROR
    try:
        from memhub.storage.postgres.opening import grant_member, init_store
        from memhub.storage.postgres.target import resolve
    except ImportError as exc:
        print(
            f"memhub team: needs the team extra ({exc.name}): pip install 'memhub[team]'",
            file=sys.stderr,
        )
        return EXIT_ERROR
    try:
        target = resolve(url, os.environ)
        if action == "init":
            name, dimension = _model_identity()
            done = init_store(target, embedder=name, dimension=dimension)
            for line in done:
                print(f"memhub team init: {line}")
            print(
                "memhub team init: each member runs "
                f"`memhub install <client> --db {target.url}` (their password in ~/.pgpass); "
                "grant them access with "
                f"`memhub team grant --role <login> [--read-only] {target.url}`"
            )
            return EXIT_OK
        if not role:
            print("memhub team grant: name the member's login role with --role", file=sys.stderr)
            return EXIT_ERROR
        print(f"memhub team grant: {grant_member(target, role, read_only=read_only)}")
        return EXIT_OK
    except StartupError as exc:
        print(f"memhub team {action}: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _model_identity() -> tuple[str, int]:
    """The name and dimension of the embedder this machine's daemons would use."""
    settings = Settings.from_env()
    if settings.embedder == "hash":
        from memhub.embedding import HashEmbedder

        fake = HashEmbedder()
        return fake.name, fake.dimension
    from memhub.daemon import embedder_factory

    model = embedder_factory(settings)()
    return model.name, model.dimension
