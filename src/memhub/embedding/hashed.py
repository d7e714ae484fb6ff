"""A deterministic, torch-free feature-hashing embedder for tests and the stress harness."""

from __future__ import annotations

import functools
import hashlib
import re
from typing import TYPE_CHECKING, Final, Literal

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from memhub.embedding.base import Vectors


class HashEmbedder:
    """Deterministic feature hashing: fast, torch-free, and only for tests and the stress harness.

    Lower-cased word tokens and the character trigrams of each word (fastText style, with
    boundary marks) are hashed with BLAKE2b into signed buckets. Texts that share words or
    spellings therefore score a higher cosine than unrelated texts, which the dedup tests and the
    stress workload rely on; there is no semantics beyond that. Databases record the embedder's
    ``name`` (``hash:v1``), so a hash-written database is refused by a model daemon and the other
    way round. Changing the hashing scheme requires a new name.
    """

    _TOKEN: Final = re.compile(r"\w+")

    def __init__(self, dimension: int = 384) -> None:
        if dimension < 2:
            raise ValueError(f"dimension must be at least 2, got {dimension}")
        self.name = "hash:v1"
        self.kind: Literal["model", "hash"] = "hash"
        self.dimension = dimension

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Hash every text; an empty or token-free text still gets a fixed unit vector."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            index: list[int] = []
            weight: list[float] = []
            for word in self._TOKEN.findall(text.lower()) or ["\x00empty"]:
                _add(index, weight, word, 1.0, self.dimension)
                padded = f"<{word}>"
                for i in range(len(padded) - 2):
                    # Trigrams weigh less than words: they make typos and plurals close without
                    # letting two texts built from the same letters look alike.
                    _add(index, weight, padded[i : i + 3], 0.5, self.dimension)
            vec = np.bincount(index, weights=weight, minlength=self.dimension)
            norm = float(np.linalg.norm(vec))
            if norm == 0.0:  # every feature cancelled out: vanishingly rare, but stay unit-length
                vec[0], norm = 1.0, 1.0
            out[row] = vec / norm
        return out


def _add(index: list[int], weight: list[float], feature: str, scale: float, dim: int) -> None:
    bucket, sign = _bucket(feature, dim)
    index.append(bucket)
    weight.append(sign * scale)


@functools.lru_cache(maxsize=1 << 16)
def _bucket(feature: str, dim: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode(), digest_size=8, person=b"memhub-hash-v1").digest()
    value = int.from_bytes(digest, "little")
    # The sign bit comes from the top of the digest so it is independent of the bucket.
    return value % dim, (1.0 if value >> 63 else -1.0)
