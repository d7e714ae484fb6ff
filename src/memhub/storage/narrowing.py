"""The few rows a filtered read may match, named by the facet index instead of a scan.

A read without a query (a tag listing newest first) sorts what its filter matches. For a rare
tag, walking the time index newest first reads every row without it before it finds a page's
worth (0.5 s at a million memories for a tag no memory carries); the facet index already knows
which rows carry the tag. Those rows, and what the index may not reflect yet, are then the only
ones read.

The index follows the change feed a little behind the writer, so the rows it may miss are added:
the rows past the mirror's position (new rows) and the rows changed in place after the cursor
the mirror follows (an update's new tags). :meth:`VectorIndex.apply
<memhub.storage.mirror.VectorIndex.apply>` advances the facets before the position and the
cursor, so a caller that reads those two first and the facets last misses nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

import attrs

from memhub.storage.mirror import usable

if TYPE_CHECKING:
    from memhub.storage.mirror import VectorIndex
    from memhub.storage.model import Filters

#: Past this many candidates the filter is not rare: the time index finds a page soon enough.
FEW_ROWS: Final = 4096


@attrs.frozen
class FewRows:
    """Every row that may match: ``rows``, and (on engines whose rows are numbered in commit
    order) every row with an id past ``past``."""

    rows: Sequence[int]
    past: int | None


def few_rows(
    index: VectorIndex | None, filters: Filters, *, past: int | None, changed: Sequence[int]
) -> FewRows | None:
    """The rows ``filters`` may match when the facet index narrows them to a few, else None.

    ``past`` and ``changed`` must be read from the index and the engine *before* this call
    (see the module doc).
    """
    index = usable(index)
    if index is None or not filters.narrowing:
        return None
    candidates = index.facets.candidates(filters)
    if candidates is None or len(candidates) > FEW_ROWS:
        return None
    rows = set(candidates.tolist())
    rows.update(changed)
    return FewRows(rows=sorted(rows), past=past)
