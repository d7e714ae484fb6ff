"""A cursor that counts the statements that changed something.

The writer runs a batch without savepoints and reruns it with them only when a write call
fails *after* it changed a row (see ``writer.py``). Whether a call changed a row is counted
here, for every statement any write module runs, rather than by each module remembering to
say so: a write path that forgot would otherwise commit half of a failed call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import psycopg
from psycopg import sql
from psycopg.pq import Format

#: The first word of a statement that may change rows. A ``WITH`` statement counts by its
#: rows back: memhub's data-modifying CTEs return a row per row they change.
MODIFYING: Final = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE", "WITH", "TRUNCATE"})

Params = Sequence[Any] | dict[str, Any] | None


def _may_modify(query: str | bytes | sql.Composable) -> bool:
    if isinstance(query, bytes):
        query = query.decode("utf-8", "replace")
    if not isinstance(query, str):
        return True  # composed SQL: assume it writes (the safe side)
    words = query.lstrip("( \n\t").split(None, 1)
    return bool(words) and words[0].upper() in MODIFYING


class CountingCursor(psycopg.Cursor[Any]):
    """A binary cursor whose :attr:`changes` counts statements that changed rows."""

    changes: int = 0

    @classmethod
    def on(cls, conn: psycopg.Connection[Any]) -> CountingCursor:
        cur = cls(conn)
        cur.format = Format.BINARY
        return cur

    def execute(  # type: ignore[override]
        self,
        query: Any,
        params: Params = None,
        *,
        prepare: bool | None = None,
        binary: bool | None = None,
    ) -> CountingCursor:
        super().execute(query, params, prepare=prepare, binary=binary)
        # rowcount is -1 when the server does not say: count it (the safe side).
        if _may_modify(query) and self.rowcount != 0:
            self.changes += 1
        return self

    def executemany(
        self,
        query: Any,
        params_seq: Iterable[Sequence[Any] | Mapping[str, Any]],
        *,
        returning: bool = False,
    ) -> None:
        super().executemany(query, params_seq, returning=returning)
        if _may_modify(query):
            self.changes += 1
