"""One rule for every engine: a store holds the vectors of one embedder only.

Vectors of two models (or of the deterministic test embedder) mixed in one store would make
every search quietly wrong, so a daemon whose model differs from what the store records is
refused at start with a message that says which model the store needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from memhub.errors import StartupError

if TYPE_CHECKING:
    from memhub.embedding import Embedder


@attrs.frozen
class EmbedderRecord:
    """What a store says about the vectors in it."""

    name: str | None  # the embedder memhub recorded, None when memhub never wrote there
    dimension: int
    has_rows: bool


def check_embedder(record: EmbedderRecord, embedder: Embedder, location: str) -> None:
    """Refuse to mix vectors of two embedders in one store (a fake one must never write there).

    Raises:
        StartupError: naming the store, the two embedders and what to set.
    """
    if record.dimension != embedder.dimension:
        raise StartupError(
            f"{location}: the database stores {record.dimension}-dimensional embeddings but the "
            f"embedder {embedder.name} makes {embedder.dimension}; set MCP_EMBEDDING_MODEL to "
            "the model that wrote this database"
        )
    if record.name is not None and record.name != embedder.name:
        raise StartupError(
            f"{location}: the database was written with the embedder {record.name}, not "
            f"{embedder.name}; set MCP_EMBEDDING_MODEL / MEMHUB_EMBEDDER to match, or use "
            "another database"
        )
    if record.name is None and record.has_rows and embedder.kind == "hash":
        raise StartupError(
            f"{location}: this database holds real embeddings; the hash embedder "
            "(MEMHUB_EMBEDDER=hash) is only for tests and the stress harness"
        )
