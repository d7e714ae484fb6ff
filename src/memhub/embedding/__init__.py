"""Embedding backends behind one seam, and the one factory that picks a backend.

Importing this package must stay cheap (the MCP bridge imports it): every backend that needs a
heavy library imports it inside its loader, never at module level.
"""

from __future__ import annotations

from memhub.config import EmbedderKind
from memhub.embedding.base import Embedder, Vectors
from memhub.embedding.hashed import HashEmbedder

__all__ = ["Embedder", "EmbedderKind", "HashEmbedder", "Vectors", "create_embedder"]


def create_embedder(kind: EmbedderKind, model_name: str, threads: int) -> Embedder:
    """Build the embedder a setting names; ``hash`` is for tests and the stress harness only."""
    if kind == "hash":
        return HashEmbedder()
    from memhub.embedding.sentence_transformers import load_model_embedder

    return load_model_embedder(model_name, threads)
