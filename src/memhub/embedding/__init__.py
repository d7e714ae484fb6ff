"""Embedding backends behind one seam, and the one factory that picks a backend.

Importing this package must stay cheap (the MCP bridge imports it): every backend that needs a
heavy library imports it inside its loader, never at module level.
"""

from __future__ import annotations

import logging
from pathlib import Path

from memhub.config import EmbedderKind, EmbeddingBackend, model_cache_dir
from memhub.embedding.base import Embedder, Vectors
from memhub.embedding.hashed import HashEmbedder

__all__ = [
    "Embedder",
    "EmbedderKind",
    "EmbeddingBackend",
    "HashEmbedder",
    "Vectors",
    "create_embedder",
]

logger = logging.getLogger(__name__)


def create_embedder(
    kind: EmbedderKind,
    model_name: str,
    threads: int,
    *,
    backend: EmbeddingBackend = "onnx",
    cache_dir: Path | None = None,
) -> Embedder:
    """Build the embedder a setting names; ``hash`` is for tests and the stress harness only.

    ``backend="onnx"`` (the default) runs the model with onnxruntime, exporting it once into
    ``cache_dir`` (default ``MEMHUB_MODEL_CACHE``); if that backend cannot serve the model here
    (onnxruntime missing, a model it cannot reproduce, a failed export with torch present) it
    says so in one log line and falls back to sentence-transformers. Both backends give the
    same ``name``, so a database does not care which one wrote it.

    Raises:
        StartupError: no backend can load the model; the message says what to install.
    """
    if kind == "hash":
        return HashEmbedder()
    from memhub.embedding.lookup import locate_model
    from memhub.embedding.sentence_transformers import load_model_embedder

    if backend == "sentence-transformers":
        return load_model_embedder(model_name, threads)
    from memhub.embedding.onnx_cache import OnnxUnavailable, legacy_cache_roots
    from memhub.embedding.onnx_embedder import load_onnx_embedder

    source, identity, local_only = locate_model(model_name).as_tuple()
    try:
        if local_only:
            raise OnnxUnavailable(f"{model_name!r} is not a local model folder to export")
        return load_onnx_embedder(
            Path(source),
            identity,
            threads=threads,
            cache_root=model_cache_dir() if cache_dir is None else cache_dir,
            # The daemon's log (and a foreground `memhub serve`'s stderr) shows the export.
            progress=logger.warning,
            legacy_roots=legacy_cache_roots(),
        )
    except OnnxUnavailable as exc:
        logger.warning("ONNX backend unavailable: %s; falling back to sentence-transformers", exc)
    return load_model_embedder(model_name, threads)
