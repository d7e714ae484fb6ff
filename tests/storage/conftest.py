"""Fixtures of the storage tests: every contract test runs once per engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from memhub.embedding import HashEmbedder

from .engines import ENGINES, Engine, settings_for


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture(params=ENGINES)
def engine_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def engine(engine_kind: str, tmp_path: Path, embedder: HashEmbedder) -> Iterator[Engine]:
    opened = Engine(settings_for(engine_kind, tmp_path), embedder)
    yield opened
    opened.close()


@pytest.fixture
def make_engine(engine_kind: str, tmp_path: Path, embedder: HashEmbedder) -> Iterator[object]:
    """Open an engine with other settings: ``make_engine(semantic_dedup=False)``."""
    opened: list[Engine] = []

    def make(**overrides: object) -> Engine:
        where = tmp_path / f"e{len(opened)}"
        where.mkdir()
        engine = Engine(settings_for(engine_kind, where, **overrides), embedder)
        opened.append(engine)
        return engine

    yield make
    for engine in opened:
        engine.close()
