"""The two ends of a migration, as :mod:`memhub.migrate` sees them (either engine on either end).

A :class:`Source` reads every row, tombstones included, in id order, in one snapshot. A
:class:`Destination` writes chunks of rows it does not hold yet (by content hash: a second run
copies nothing twice, an interrupted one resumes), each chunk in one transaction under the store's
write discipline, and reads back what it holds of the source's hashes for the verification.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import attrs

from memhub.migration.edges import EdgeRow
from memhub.migration.rows import Row, SideSummary


class MigrateError(Exception):
    """The migration cannot start or go on; the message says why and what to do."""


@attrs.frozen
class ModelInfo:
    """Which embedder wrote a side's vectors (None: not recorded, as in mcp-memory-service's
    files) and their dimension (None: a new file, not created yet)."""

    name: str | None
    dimension: int | None


class Source(Protocol):
    location: str
    model: ModelInfo

    def count(self) -> int: ...

    def chunks(self, size: int) -> Iterator[list[Row]]: ...

    def edges(self) -> Iterator[EdgeRow]:
        """Every ``memory_graph`` row, in the same snapshot as the memories."""
        ...

    def close(self) -> None: ...


class Destination(Protocol):
    location: str

    @property
    def model(self) -> ModelInfo: ...

    def prepare(self, model: ModelInfo) -> None:
        """Make the store ready for vectors of ``model`` (a new SQLite file is created)."""
        ...

    def problem(self, row: Row) -> str | None:
        """Why this store cannot hold ``row`` as it is, or None."""
        ...

    def write(self, rows: Sequence[Row]) -> tuple[int, int]:
        """Copy the rows not held yet, in one transaction: (copied, already there)."""
        ...

    def finish(self) -> None:
        """After the last chunk (a team store refreshes its planner statistics)."""
        ...

    def summarize(self, hashes: set[str], *, with_vector: bool) -> SideSummary: ...

    def extra_rows(self, hashes: set[str]) -> int:
        """Rows held that are not among ``hashes`` (left as they were)."""
        ...

    @property
    def has_graph(self) -> bool:
        """Whether the store can hold ``memory_graph`` rows (a 10.x file cannot)."""
        ...

    def write_edges(self, edges: Sequence[EdgeRow]) -> int:
        """Copy the edges not held yet, in one transaction; how many were copied."""
        ...

    def edges_held(self, keys: set[tuple[str, str]]) -> int:
        """How many of the ``(source_hash, target_hash)`` keys the store holds."""
        ...

    def close(self) -> None: ...
