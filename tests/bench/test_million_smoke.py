"""``bench/million.py`` in small: its builder makes a file a real daemon serves, and its
measurement finds every exact neighbour (recall@10 = 1.0 against its own brute force).

Hash embedder, 2,000 rows: a few seconds. The real model at a million rows is the bench's job.
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path
from typing import Any

import apsw
import numpy as np
import pytest
from mcp import Client

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import million as bench  # noqa: E402
import million_build as mb  # noqa: E402

from memhub.domain.hashing import content_hash  # noqa: E402
from memhub.embedding import HashEmbedder  # noqa: E402
from memhub.protocol import messages as m  # noqa: E402
from memhub.storage.sqlite import schema as schema_mod  # noqa: E402
from memhub.storage.sqlite.values import as_bytes, as_float, as_str  # noqa: E402
from memhub.transport.client import open_daemon_client  # noqa: E402

ROWS = 2000
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, dict[str, object]]:
    db = tmp_path / "million.db"
    plan = mb.Plan(rows=ROWS, real=200, chunk=500, embedder="hash")
    result = mb.build(plan, db, embedder=HashEmbedder(), log=lambda line: None)
    return db, result


def test_the_build_holds_what_it_says(built: tuple[Path, dict[str, object]]) -> None:
    db, result = built
    assert result["memories"] == result["vectors"] == ROWS
    assert result["integrity_check"] == "ok"
    assert result["schema"] == "v12"
    conn = apsw.Connection(str(db))
    one = conn.execute
    assert one("SELECT value FROM metadata WHERE key='memhub_embedder'").fetchall() == [
        ("hash:v1",)
    ]
    rows = [
        (as_str(text), as_str(digest), as_str(tags), as_str(store), as_float(created))
        for text, digest, tags, store, created in one(
            "SELECT content, content_hash, tags, store, created_at FROM memories"
        )
    ]
    assert all(content_hash(text) == digest for text, digest, *_ in rows)
    assert len({digest for _, digest, *_ in rows}) == ROWS
    rare = [r for r in rows if mb.RARE_TAG in r[2].split(",")]
    assert len(rare) == ROWS // mb.RARE_EVERY
    common = sum(mb.COMMON_TAG in r[2].split(",") for r in rows)
    assert 0.2 < common / ROWS < 0.4
    assert {r[3] for r in rows} == {"default", "team-notes", "scratch"}
    created = [r[4] for r in rows]
    assert created == sorted(created)
    assert (created[-1] - created[0]) / 86400 > 3 * 365 * 0.99
    # the trigram index answers, so it was rebuilt in full
    fts = one(
        "SELECT COUNT(*) FROM memory_content_fts WHERE memory_content_fts MATCH ?", ("rollout",)
    )
    assert fts.fetchall()[0][0] == sum("rollout" in r[0].lower() for r in rows)
    conn.close()


async def test_a_real_daemon_serves_it_and_finds_the_exact_neighbours(
    built: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    db, _ = built
    facts = bench.read_file(db)
    # three stores: the default one holds ~96% of the rows
    assert facts.rows == ROWS
    assert facts.default_store.sum() < ROWS
    daemon, start = await bench.start_daemon(db, "hash", tmp_path / "daemon.log", "first query")
    try:
        assert start["first_search_hits"] == bench.K
        # a store through the daemon writes the same kinds of values as the bulk rows
        async with open_daemon_client(daemon.url, daemon.token) as client:
            stored = await client.call(
                m.Store(id=0, content="a row the daemon wrote", tags=["x", "y"], memory_type="note")
            )
        assert isinstance(stored, m.Stored)
        _same_shape_as_a_stored_row(db, stored.content_hash)

        opts = bench.Options(db=db, queries=5)
        cases = bench.search_cases(facts)
        assert [int(c.mask.sum()) > 0 for c in cases] == [True] * 4
        texts = iter(mb.query_texts(3, 500))
        async with Client(bench.bridge_params(db, "hash"), mode="legacy") as client:
            search, _ = await bench._searches(
                opts, client, HashEmbedder(), facts, cases, texts, random.Random(1), None
            )
        for name in bench.CASES:
            assert search[name]["n"] == 5
            assert search[name]["recall_at_10"] == 1.0, (name, search[name])
        assert search["short_answers"] == 0
    finally:
        bench.stop_daemon(daemon)


def _same_shape_as_a_stored_row(db: Path, daemon_hash: str) -> None:
    conn = schema_mod.connect(db, readonly=True, pragmas={"busy_timeout": "5000"})
    cursor = conn.execute("SELECT * FROM memories WHERE content_hash = ?", (daemon_hash,))
    names = [d[0] for d in cursor.getdescription()]
    daemon_row: dict[str, Any] = dict(zip(names, cursor.fetchall()[0], strict=True))
    bulk_row: dict[str, Any] = dict(
        zip(names, conn.execute("SELECT * FROM memories WHERE id = 7").fetchall()[0], strict=True)
    )
    for name in names:
        if name in ("id", "content", "content_hash", "tags", "memory_type", "metadata"):
            continue
        a, b = daemon_row[name], bulk_row[name]
        assert (a is None) == (b is None), name
        assert type(a) is type(b), (name, a, b)
    for row in (daemon_row, bulk_row):
        assert ISO.match(row["created_at_iso"])
        assert ISO.match(row["updated_at_iso"])
        assert isinstance(json.loads(row["metadata"]), dict)
        assert row["tags"] == row["tags"].lower().replace(" ", "")
    ((store, blob),) = conn.execute(
        "SELECT store, content_embedding FROM memory_embeddings WHERE rowid = 7"
    ).fetchall()
    assert store == bulk_row["store"]
    assert len(as_bytes(blob)) == 4 * 384
    assert abs(float(np.linalg.norm(np.frombuffer(as_bytes(blob), dtype="<f4"))) - 1.0) < 1e-5
    conn.close()
