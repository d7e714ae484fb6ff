"""``memory_quality``'s daemon requests on a team store: two machines rating one memory at once.

Each rating is one read-modify-write inside the store's write transaction, so ratings sent at
the same moment from two daemons on different machines all land in ``rating_history``, and the
memory keeps its other metadata.
"""

from __future__ import annotations

import json

import pytest
import trio

from memhub.errors import BadRequest, NotFound
from memhub.protocol import messages as m
from memhub.transport.client import open_daemon_client
from tests.team.test_team_daemons import machine, team_url  # noqa: F401  (fixture)

PER_MACHINE = 5


def test_concurrent_ratings_from_two_machines_all_land(tmp_path, team_url):  # noqa: F811
    with machine(tmp_path, "laptop", team_url) as a, machine(tmp_path, "desktop", team_url) as b:

        async def scenario() -> None:
            async with (
                open_daemon_client(a.url, a.token, client_name="claude-code") as on_a,
                open_daemon_client(b.url, b.token, client_name="cursor") as on_b,
            ):
                stored = await on_a.call(
                    m.Store(id=0, content="the release train leaves on thursdays",
                            metadata={"source": "team", "quality_score": 0.4})
                )  # fmt: skip
                assert isinstance(stored, m.Stored)
                h = stored.content_hash
                await on_a.call(m.Store(id=0, content="a second memory, never rated"))

                async def rate(client, who: str) -> None:
                    for i in range(PER_MACHINE):
                        done = await client.call(
                            m.QualityRate(id=0, content_hash=h, rating=1, feedback=f"{who}{i}")
                        )
                        assert isinstance(done, m.ToolData)
                        assert done.data["new_score"] == 0.9

                with trio.fail_after(60):
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(rate, on_a, "a")
                        nursery.start_soon(rate, on_b, "b")
                    found = await on_b.call(m.Get(id=0, content_hash=h))
                    assert isinstance(found, m.Found)
                    meta = found.memory.metadata
                    assert sorted(e["feedback"] for e in meta["rating_history"]) == sorted(
                        [f"a{i}" for i in range(PER_MACHINE)]
                        + [f"b{i}" for i in range(PER_MACHINE)]
                    )
                    assert (meta["source"], meta["computed_quality"], meta["user_rating"]) == (
                        "team",
                        0.4,
                        1,
                    )
                    # the first rating saw 0.4, every later one 0.9
                    assert sorted(e["old_score"] for e in meta["rating_history"])[:2] == [0.4, 0.9]
                    summary = await on_a.call(m.QualityAnalyze(id=0))
                    assert isinstance(summary, m.ToolData)
                    d = summary.data
                    assert (d["store_total"], d["total"], d["high"], d["medium"]) == (2, 2, 1, 1)
                    assert round(d["average"], 3) == 0.7
                    assert d["providers"] == [["implicit", 2]]
                    with pytest.raises(NotFound, match="Memory not found with hash"):
                        await on_b.call(m.QualityRate(id=0, content_hash="0" * 64, rating=0))
                    with pytest.raises(BadRequest, match="rating must be -1, 0, or 1"):
                        await on_b.call(m.QualityRate(id=0, content_hash=h, rating=3))
                    json.dumps(d)  # what travels is plain JSON
                    # maintain's local steps on the team store: entity links land in its graph
                    await on_a.call(m.Store(id=0, content="ask @dana about #release-train"))
                    done = await on_b.call(m.QualityMaintain(id=0, dry_run=False))
                    assert isinstance(done, m.ToolData)
                    steps = done.data["steps"]
                    assert done.data["errors"] == []
                    assert steps["cleanup"] == {
                        "duplicates_removed": 0,
                        "message": "No duplicate memories found",
                    }
                    assert steps["stale"]["stale_count"] == 0
                    assert steps["quality"]["total_scored"] == 3
                    # dana, release-train, and each memory's "untagged"
                    assert steps["entities"] == {
                        "memories_scanned": 3,
                        "entities_found": 5,
                        "links_stored": 5,
                    }
                    walked = await on_a.call(m.GraphQuery(id=0, action="connected", hash=h))
                    assert isinstance(walked, m.ToolData)
                    assert {"hash": "untagged", "distance": 1} in walked.data["connected"]

        trio.run(scenario)
