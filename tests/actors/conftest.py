"""Fixtures of the actor tests; their builders live in :mod:`tests.actors.helpers`."""

from __future__ import annotations

import pytest

from memhub.embedding import HashEmbedder


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()
