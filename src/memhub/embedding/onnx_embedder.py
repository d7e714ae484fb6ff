"""The default embedding backend: the exported transformer run by onnxruntime, torch-free.

Tokenisation (``tokenizers``), the transformer (onnxruntime), then mean pooling over the
attention mask and L2 normalisation in numpy: the same three steps, in the same float32
arithmetic, as the sentence-transformers pipeline of all-MiniLM-L6-v2 (Transformer -> Pooling
with mean tokens -> Normalize), so the vectors agree to about 1e-7 in cosine and a database
written by either backend (or by mcp-memory-service) can be searched by the other.

Neither onnxruntime nor tokenizers is imported at module level: the MCP bridge imports the
embedding package and must stay fast, and a missing onnxruntime must turn into a fallback,
not an import error.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final, Literal, Protocol

import numpy as np
import numpy.typing as npt

from memhub.embedding.onnx_cache import CachedModel, OnnxUnavailable, ensure_cached

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from tokenizers import Tokenizer

    from memhub.embedding.base import Vectors

logger = logging.getLogger(__name__)

_PROVIDERS: Final = ["CPUExecutionProvider"]


class _Session(Protocol):
    """The part of ``onnxruntime.InferenceSession`` this module uses (it ships no type hints)."""

    def run(
        self, output_names: list[str] | None, input_feed: dict[str, npt.NDArray[np.int64]]
    ) -> list[npt.NDArray[np.float32]]: ...


class OnnxEmbedder:
    """An :class:`~memhub.embedding.Embedder` running an exported transformer with onnxruntime.

    Like every embedder it is called from one worker thread at a time.
    """

    kind: Literal["model", "hash"]

    def __init__(
        self,
        session: _Session,
        tokenizer: Tokenizer,
        *,
        input_names: Sequence[str],
        name: str,
        dimension: int,
    ) -> None:
        self._session = session
        self._tokenizer = tokenizer
        self._input_names = tuple(input_names)
        self.name = name
        self.kind = "model"
        self.dimension = dimension

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Mean-pooled, L2-normalised vectors, one row per text, in input order."""
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        feed = {name: np.array(columns[name], dtype=np.int64) for name in self._input_names}
        mask = np.array(columns["attention_mask"], dtype=np.float32)
        hidden = self._session.run(None, feed)[0]
        return mean_pool_normalise(hidden, mask)


def mean_pool_normalise(
    hidden: npt.NDArray[np.float32], mask: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """sentence-transformers' mean pooling then ``Normalize``, in float32.

    Padding tokens are masked out of the mean; the clamps (1e-9 on the token count, 1e-12 on
    the norm) are the ones sentence-transformers and ``torch.nn.functional.normalize`` use.
    """
    summed = np.einsum("bsd,bs->bd", hidden.astype(np.float32, copy=False), mask)
    counts = np.maximum(mask.sum(axis=1, keepdims=True), np.float32(1e-9))
    mean = summed / counts
    norms = np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), np.float32(1e-12))
    return np.ascontiguousarray(mean / norms, dtype=np.float32)


def build_embedder(cached: CachedModel, threads: int) -> OnnxEmbedder:
    """Open an onnxruntime session and a tokenizer on verified cache contents.

    See :mod:`memhub.embedding.onnx_cache` for why opening the verified path is safe.
    """
    manifest = cached.manifest
    return open_embedder(
        str(cached.model_path),
        cached.tokenizer_json,
        input_names=manifest.input_names,
        name=manifest.identity,
        dimension=manifest.dimension,
        max_seq_length=manifest.max_seq_length,
        pad_id=manifest.pad_id,
        pad_token=manifest.pad_token,
        threads=threads,
    )


def open_embedder(
    model: str,
    tokenizer_json: str,
    *,
    input_names: Sequence[str],
    name: str,
    dimension: int,
    max_seq_length: int,
    pad_id: int,
    pad_token: str,
    threads: int,
) -> OnnxEmbedder:
    """An embedder on an ONNX model file and the text of its ``tokenizer.json``."""
    try:
        import onnxruntime
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise OnnxUnavailable(f"onnxruntime or tokenizers cannot be imported ({exc})") from exc
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    # Like OMP_WAIT_POLICY=PASSIVE for torch (see cli.cmd_serve): idle pool threads must not
    # spin on the two cores that the vector search needs right after an embedding.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # warnings about unused initialisers are noise here
    session: _Session = onnxruntime.InferenceSession(
        model, sess_options=options, providers=_PROVIDERS
    )
    tokenizer = Tokenizer.from_str(tokenizer_json)
    configure_tokenizer(tokenizer, max_seq_length, pad_id, pad_token)
    return OnnxEmbedder(session, tokenizer, input_names=input_names, name=name, dimension=dimension)


def configure_tokenizer(tokenizer: Tokenizer, max_length: int, pad_id: int, pad_token: str) -> None:
    """Truncate like the model's ``max_seq_length``, pad each batch to its longest text.

    A saved ``tokenizer.json`` may carry fixed-length padding or another truncation length
    (the MiniLM one pads to 128): both are replaced, as sentence-transformers does per call.
    """
    tokenizer.enable_truncation(max_length=max_length, strategy="longest_first")
    tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)


def load_onnx_embedder(
    source: Path,
    identity: str,
    *,
    threads: int,
    cache_root: Path,
    progress: Callable[[str], None],
    legacy_roots: Sequence[Path] = (),
) -> OnnxEmbedder:
    """Export the model once if needed (in a child process), then load it without torch.

    A ready export under one of ``legacy_roots`` (older cache locations) is used as it is.

    Raises:
        OnnxUnavailable: the runtime libraries are missing or the export failed with torch
            present; the caller falls back to sentence-transformers.
        StartupError: there is no usable export and none can be made (torch missing).
    """
    try:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError as exc:
        # Checked before any export: exporting a model nobody can run would waste ~10 s.
        raise OnnxUnavailable(f"onnxruntime or tokenizers cannot be imported ({exc})") from exc
    cached = ensure_cached(
        source, identity, cache_root, threads=threads, progress=progress, legacy_roots=legacy_roots
    )
    embedder = build_embedder(cached, threads)
    logger.info(
        "loaded embedding model %s (%d-d) with onnxruntime from %s",
        identity,
        embedder.dimension,
        cached.directory,
    )
    return embedder
