"""The team store a stress run writes: by default a fresh schema of its own, dropped afterwards.

``memhub stress --db postgresql://…`` must not write into a team's real memories, and a store
pins its embedder (the hash embedder of a stress run would be refused by a real store anyway),
so a run prepares a new schema ``memhub_stress_<pid>_<random>`` in that database the way
``memhub team init`` does, and drops it at the end unless ``--keep``. ``--schema`` names an
existing store instead (left in place; its rows are not the run's to check exclusively).
"""

from __future__ import annotations

import os
import secrets
from typing import Any

import attrs
import psycopg

from memhub.storage.postgres.opening import init_store
from memhub.storage.postgres.target import PgTarget, resolve


@attrs.frozen
class TeamStore:
    url: str
    target: PgTarget
    temporary: bool

    @property
    def schema(self) -> str:
        return self.target.schema


def prepare(url: str, schema: str | None, *, embedder: str, dimension: int) -> TeamStore:
    """The store of the run: ``schema`` as it is, or a new temporary one."""
    temporary = schema is None
    name = schema or f"memhub_stress_{os.getpid()}_{secrets.token_hex(3)}"
    target = resolve(url, {**os.environ, "MEMHUB_PG_SCHEMA": name})
    if temporary:
        init_store(target, embedder=embedder, dimension=dimension)
    return TeamStore(url=url, target=target, temporary=temporary)


def connect(store: TeamStore, **kwargs: Any) -> psycopg.Connection[Any]:
    return psycopg.connect(
        store.target.url, connect_timeout=10, **store.target.connect_kwargs(), **kwargs
    )


def last_seq(store: TeamStore) -> int:
    with connect(store) as conn:
        row = conn.execute(f"SELECT COALESCE(max(seq), 0) FROM {store.schema}.changes").fetchone()
    return int(row[0]) if row else 0


def drop(store: TeamStore) -> None:
    if store.temporary:
        with connect(store, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {store.schema} CASCADE")
