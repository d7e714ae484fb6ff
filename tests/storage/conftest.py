"""Fixtures of the storage tests: every contract test runs once per engine."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from memhub.embedding import HashEmbedder
from tests.pgserver import PgServer

from .engines import ENGINES, Engine, settings_for


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture(params=ENGINES)
def engine_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(request: pytest.FixtureRequest, engine_kind: str) -> Callable[[], str | None]:
    """A fresh database for each call when the engine is PostgreSQL (None for SQLite)."""
    if engine_kind != "postgresql":
        return lambda: None
    server: PgServer = request.getfixturevalue("pg_server")
    names = itertools.count()

    def fresh() -> str:
        name = f"contract_{next(_databases)}_{next(names)}"
        server.create_database(name, vector=False)
        return server.passwordless_url(dbname=name)

    return fresh


_databases = itertools.count()


@pytest.fixture
def engine(
    engine_kind: str, tmp_path: Path, embedder: HashEmbedder, store_url: Callable[[], str | None]
) -> Iterator[Engine]:
    opened = Engine(settings_for(engine_kind, tmp_path, url=store_url()), embedder)
    yield opened
    opened.close()


@pytest.fixture
def make_engine(
    engine_kind: str, tmp_path: Path, embedder: HashEmbedder, store_url: Callable[[], str | None]
) -> Iterator[object]:
    """Open an engine with other settings: ``make_engine(semantic_dedup=False)``."""
    opened: list[Engine] = []

    def make(**overrides: Any) -> Engine:
        where = tmp_path / f"e{len(opened)}"
        where.mkdir()
        engine = Engine(settings_for(engine_kind, where, url=store_url(), **overrides), embedder)
        opened.append(engine)
        return engine

    yield make
    for engine in opened:
        engine.close()
