"""The embedder seam: what every embedding backend implements, and the vector type they share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from collections.abc import Sequence

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into unit vectors. Implementations are synchronous and run in a worker thread.

    ``name`` is a stable identity (``"sentence-transformers:all-MiniLM-L6-v2"``, ``"hash:v1"``)
    that databases record, so that vectors from different embedders are never mixed.
    """

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> Literal["model", "hash"]: ...

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Return float32 of shape ``(len(texts), dimension)``, each row L2-normalised."""
        ...
