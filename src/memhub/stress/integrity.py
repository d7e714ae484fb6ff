"""Verify a stress run from the database file itself, against what clients were told.

Checks (each a named pass/fail with details):

* ``acked_stores_present``: every acknowledged store whose last acknowledged event is not a
  delete is an active row, exactly once;
* ``acked_deletes_gone``: every hash whose last acknowledged event is a delete is not active;
* ``memories_have_embeddings``: active memories and vector rows match one to one;
* ``hashes_unique``: no content hash appears twice in ``memories``;
* ``vectors_match_reembedding``: a sample of stored vectors equals a fresh embedding of its
  content (so no row carries another row's vector or a fake one);
* ``counts_consistent``: active rows lie between what must exist and that plus the stores whose
  outcome stayed unknown;
* ``integrity_check``: ``PRAGMA integrity_check`` is ``ok``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from memhub.embedding import Embedder
from memhub.storage.mirror import unit_rows
from memhub.storage.sqlite import schema as schema_mod
from memhub.storage.sqlite.values import as_bytes, as_int, as_str
from memhub.storage.sqlite.vectors import blob_to_vector
from memhub.stress.expectations import expect


@attrs.frozen
class Check:
    name: str
    ok: bool
    detail: str


def expected_state(records: Iterable[dict[str, Any]]) -> tuple[set[str], set[str], int]:
    """(hashes that must be active, hashes that must be gone, stores of unknown outcome)."""
    found = expect(records)
    return found.present, found.gone, found.unknown_stores


def verify(
    db: Path,
    records: list[dict[str, Any]],
    embedder: Embedder,
    *,
    sample: int = 50,
    exclusive: bool = True,
) -> list[Check]:
    """Run every check; ``exclusive`` means only the ledgers' clients wrote this database."""
    present, gone, unknown = expected_state(records)
    conn = schema_mod.connect(db, readonly=True, pragmas={"busy_timeout": "10000"})
    try:
        rows = conn.execute(
            "SELECT id, content_hash, content FROM memories WHERE deleted_at IS NULL"
        ).fetchall()
        active = {as_str(r[1]): (as_int(r[0]), as_str(r[2])) for r in rows}
        hashes = [as_str(r[0]) for r in conn.execute("SELECT content_hash FROM memories")]
        vectors = {
            as_int(r[0]): as_bytes(r[1])
            for r in conn.execute("SELECT rowid, content_embedding FROM memory_embeddings")
        }
        integrity = as_str(conn.execute("PRAGMA integrity_check").fetchall()[0][0])
        schema = schema_mod.inspect(conn, db)
    finally:
        conn.close()
    assert schema is not None
    checks = []
    missing = sorted(present - set(active))
    checks.append(
        Check(
            "acked_stores_present",
            not missing,
            f"{len(present)} must exist, {len(missing)} missing {missing[:3]}",
        )
    )
    lingering = sorted(gone & set(active))
    checks.append(
        Check(
            "acked_deletes_gone",
            not lingering,
            f"{len(gone)} must be gone, {len(lingering)} still active {lingering[:3]}",
        )
    )
    active_ids = {rowid for rowid, _ in active.values()}
    orphans = sorted(set(vectors) - active_ids)
    bare = sorted(active_ids - set(vectors))
    checks.append(
        Check(
            "memories_have_embeddings",
            not orphans and not bare,
            f"{len(bare)} memories without a vector, {len(orphans)} vectors without "
            "an active memory",
        )
    )
    dupes = len(hashes) - len(set(hashes))
    checks.append(Check("hashes_unique", dupes == 0, f"{dupes} repeated hashes"))
    picked = random.Random(0).sample(sorted(active), min(sample, len(active)))
    with_vectors = [h for h in picked if active[h][0] in vectors]
    worst = 0.0
    if with_vectors:
        fresh = embedder.encode([active[h][1] for h in with_vectors])
        for h, vec in zip(with_vectors, fresh, strict=True):
            stored = blob_to_vector(vectors[active[h][0]], schema.dimension)
            if stored is None:
                worst = float("inf")  # a vector of the wrong size is as wrong as it gets
                continue
            worst = max(worst, float(np.max(np.abs(unit_rows(stored) - vec))))
    checks.append(
        Check(
            "vectors_match_reembedding",
            worst <= 1e-4,
            f"{len(with_vectors)} sampled, max abs difference {worst:.2e}",
        )
    )
    if exclusive:
        ok = len(present) <= len(active) <= len(present) + unknown
        detail = f"{len(active)} active, expected {len(present)} (+ up to {unknown} unknown)"
    else:
        ok = len(active) >= len(present)
        detail = f"{len(active)} active, at least {len(present)} expected (shared database)"
    checks.append(Check("counts_consistent", ok, detail))
    checks.append(Check("integrity_check", integrity == "ok", integrity))
    return checks
