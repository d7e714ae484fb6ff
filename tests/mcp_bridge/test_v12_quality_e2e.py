"""``memory_quality`` end to end: a real ``memhub bridge`` and daemon (hash embedder).

Texts are 12.4's (``server/handlers/quality.py``, ``utils/quality_analytics.py``; the analyze
report below was printed by 12.4's own formatter); what memhub writes is checked in the file,
under the metadata keys 12.4 reads.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import apsw
import pytest
import trio

from memhub.storage.sqlite import schema as schema_mod

from .e2e import call_err, call_ok, open_bridge, stored_hash

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow

ANALYZE_124 = (
    "📊 Quality Score Distribution Analysis\n"
    "==================================================\n"
    "Total Memories: 3\nAverage Quality Score: 0.550\n\nDistribution by Tier:\n"
    "  🟢 High Quality (≥0.7): 1 (33.3%)\n  🟡 Medium Quality (0.5-0.7): 1 (33.3%)\n"
    "  🔴 Low Quality (<0.5): 1 (33.3%)\n\nProvider Breakdown:\n  implicit: 3 (100.0%)\n\n"
    "🏆 Top 10 Highest Quality Memories:\n  1. Score: 0.900 - quality alpha\n"
    "  2. Score: 0.500 - quality beta\n  3. Score: 0.250 - quality gamma\n\n"
    "⚠️  Bottom 10 Lowest Quality Memories:\n  1. Score: 0.900 - quality alpha\n"
    "  2. Score: 0.500 - quality beta\n  3. Score: 0.250 - quality gamma\n\n"
    "📋 JSON Summary:\n"
    + json.dumps(
        {
            "total_memories": 3,
            "high_quality_count": 1,
            "medium_quality_count": 1,
            "low_quality_count": 1,
            "average_score": 0.55,
            "provider_breakdown": {"implicit": 3},
            "quality_range": {"min": 0.0, "max": 1.0},
        },
        indent=2,
    )
)


def metadata_of(db: Path, content_hash: str) -> dict[str, Any]:
    conn = schema_mod.connect(db, readonly=True, pragmas={})
    try:
        [(raw,)] = conn.execute(
            "SELECT metadata FROM memories WHERE content_hash = ?", (content_hash,)
        ).fetchall()
    finally:
        conn.close()
    meta = json.loads(str(raw))
    assert isinstance(meta, dict)
    return meta


def quality(**args: Any) -> dict[str, Any]:
    return {"action": args.pop("action"), **args}


async def test_rate_then_get_keeps_the_other_metadata(db: Path) -> None:
    with trio.fail_after(90):
        async with open_bridge(db, MEMHUB_TOOL_SCHEMAS="v12") as c:
            h = stored_hash(
                await call_ok(
                    c,
                    "memory_store",
                    {"content": "rate me", "metadata": {"source": "notes", "quality_score": 0.6}},
                )
            )
            rated = await call_ok(
                c,
                "memory_quality",
                quality(action="rate", content_hash=h, rating="1", feedback="Very useful"),
            )
            assert rated == (
                "✅ Memory rated successfully: thumbs up\n"
                f"Content hash: {h}\n"
                "New quality score: 0.900 (was 0.600)\n"
                "Feedback: Very useful"
            )
            meta = metadata_of(db, h)
            assert meta["source"] == "notes"
            assert meta["quality_score"] == 0.9
            assert meta["computed_quality"] == 0.6  # seeded from the old score, then kept
            assert (meta["user_rating"], meta["user_feedback"]) == (1, "Very useful")
            assert isinstance(meta["user_rating_timestamp"], float)
            [entry] = meta["rating_history"]
            assert {k: entry[k] for k in ("rating", "feedback", "old_score", "new_score")} == {
                "rating": 1,
                "feedback": "Very useful",
                "old_score": 0.6,
                "new_score": 0.9,
            }
            down = await call_ok(c, "memory_quality", quality(action="rate", content_hash=h,
                                                                rating="-1"))  # fmt: skip
            assert down.endswith("New quality score: 0.250 (was 0.900)")
            meta = metadata_of(db, h)
            assert meta["computed_quality"] == 0.6
            assert len(meta["rating_history"]) == 2
            got = await call_ok(c, "memory_quality", quality(action="get", content_hash=h))
            head, _, tail = got.partition("\n📊 Full JSON Data:\n")
            assert head == (
                f"🔍 Quality Metrics for Memory: {h}\n\n"
                "Quality Score: 0.250 / 1.0\n"
                "Quality Provider: implicit\n"
                "Access Count: 0\n"
                "User Rating: 👎 thumbs down\n"  # then 12.4's blank line
            )
            assert json.loads(tail) == {
                "content_hash": h,
                "quality_score": 0.25,
                "quality_provider": "implicit",
                "access_count": 0,
                "last_accessed_at": None,
                "ai_scores": [],
                "user_rating": -1,
                "user_feedback": "",
                "quality_components": {},
            }


async def test_hostile_input(db: Path) -> None:
    unknown = "0" * 64
    with trio.fail_after(90):
        async with open_bridge(db, MEMHUB_TOOL_SCHEMAS="v12") as c:
            h = stored_hash(await call_ok(c, "memory_store", {"content": "hostile target"}))
            # 12.4's SDK refuses what the schema does not allow
            assert await call_err(
                c, "memory_quality", quality(action="rate", content_hash=h, rating="2")
            ) == ("Input validation error: '2' is not one of ['-1', '0', '1']")
            assert await call_err(
                c, "memory_quality", quality(action="rate", content_hash=h, rating=1)
            ) == ("Input validation error: 1 is not of type 'string'")
            assert (await call_err(c, "memory_quality", {"action": "explode"})).startswith(
                "Input validation error: 'explode' is not one of"
            )
            # the handler's own refusals are ordinary results
            assert await call_ok(c, "memory_quality", quality(action="rate", rating="1")) == (
                "Error: content_hash is required for 'rate' action"
            )
            assert await call_ok(c, "memory_quality", quality(action="get")) == (
                "Error: content_hash is required for 'get' action"
            )
            assert await call_ok(c, "memory_quality", quality(action="rate", content_hash=h)) == (
                "Error: rating is required"
            )
            assert await call_ok(
                c, "memory_quality", quality(action="rate", content_hash=unknown, rating="0")
            ) == (f"Error: Memory not found with hash: {unknown}")
            assert await call_ok(
                c, "memory_quality", quality(action="get", content_hash=unknown)
            ) == (f"Error: Memory not found with hash: {unknown}")
            # the old tool names are not validated (12.4 accepts them too), the handler is
            assert await call_ok(c, "rate_memory", {"content_hash": h, "rating": 5}) == (
                "Error: rating must be -1, 0, or 1"
            )
            assert await call_ok(c, "rate_memory", {"content_hash": h, "rating": "up"}) == (
                "Error: rating must be '-1', '0', or '1'"
            )
            assert await call_ok(c, "analyze_quality_distribution", {"min_quality": "x"}) == (
                "Error analyzing quality distribution: min_quality and max_quality must be numbers"
            )
            assert "user_rating" not in metadata_of(db, h)


async def test_concurrent_rates_from_two_clients_all_land(db: Path) -> None:
    per_client = 5
    with trio.fail_after(120):
        async with open_bridge(db, MEMHUB_TOOL_SCHEMAS="v12") as first:
            h = stored_hash(
                await call_ok(first, "memory_store", {"content": "popular", "metadata": {"k": 1}})
            )
            async with open_bridge(db, MEMHUB_TOOL_SCHEMAS="v12") as second:

                async def rate(client: Any, who: str) -> None:
                    for i in range(per_client):
                        await call_ok(client, "memory_quality", quality(
                            action="rate", content_hash=h, rating="1", feedback=f"{who}{i}"
                        ))  # fmt: skip

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(rate, first, "a")
                    nursery.start_soon(rate, second, "b")
    meta = metadata_of(db, h)
    feedback = sorted(e["feedback"] for e in meta["rating_history"])
    assert feedback == sorted([f"a{i}" for i in range(5)] + [f"b{i}" for i in range(5)])
    assert meta["k"] == 1


async def test_analyze_a_known_set_as_124_prints_it(db: Path) -> None:
    with trio.fail_after(90):
        async with open_bridge(db, MEMHUB_TOOL_SCHEMAS="v12") as c:
            assert await call_ok(c, "memory_quality", {"action": "analyze"}) == (
                "No memories found in database"
            )
            for content, rating in (("quality gamma", "-1"), ("quality beta", "0"),
                                    ("quality alpha", "1")):  # fmt: skip
                h = stored_hash(await call_ok(c, "memory_store", {"content": content}))
                await call_ok(c, "memory_quality", quality(action="rate", content_hash=h,
                                                            rating=rating))  # fmt: skip
            assert await call_ok(c, "memory_quality", {"action": "analyze"}) == ANALYZE_124
            assert await call_ok(
                c, "memory_quality", {"action": "analyze", "min_quality": 0.95}
            ) == ("No memories found with quality score between 0.95 and 1.0")
            high = await call_ok(c, "memory_quality", {"action": "analyze", "min_quality": 0.7})
            assert "Total Memories: 1\n" in high
            assert '"quality_range": {\n    "min": 0.7,\n    "max": 1.0\n  }' in high


async def test_maintain_dry_run_then_for_real(db: Path) -> None:
    with trio.fail_after(90):
        async with open_bridge(db, MEMHUB_TOOL_SCHEMAS="v12") as c:
            assert await call_ok(c, "memory_quality", {"action": "maintain_status"}) == (
                '{"status": "never_run"}'
            )
            h = stored_hash(
                await call_ok(
                    c,
                    "memory_store",
                    {"content": "Ping @alice about #auth-v2, see src/main.py", "tags": ["ops"]},
                )
            )
            plain = stored_hash(await call_ok(c, "memory_store", {"content": "plain words only"}))
            report = json.loads(await call_ok(c, "memory_quality", {"action": "maintain"}))
            assert list(report) == [
                "action", "dry_run", "started_at", "config", "steps", "errors",
                "elapsed_seconds", "completed_at", "success",
            ]  # fmt: skip
            assert report["dry_run"] is True
            assert report["config"] == {
                "stale_days": 30,
                "auto_resolve": False,
                "auto_resolve_threshold": 0.95,
                "auto_resolve_age_days": 7,
            }
            steps = report["steps"]
            assert steps["cleanup"] == {"skipped_dry_run": True, "current_total": 2}
            assert steps["conflicts"] == {"total": 0, "auto_resolved": 0, "skipped": 0,
                                          "details": []}  # fmt: skip
            assert steps["stale"] == {"stale_days_threshold": 30, "stale_count": 0}
            assert steps["quality"] == {
                "total_scored": 2,
                "average_score": 0.5,
                "high_quality": 0,
                "medium_quality": 2,
                "low_quality": 0,
            }
            # alice (person), auth-v2 (tag), src/main.py (file), ops (the memory's tag), and the
            # other memory's tag "untagged" (what 12.4 tags a memory stored without tags)
            assert steps["entities"] == {
                "skipped_dry_run": True,
                "memories_scanned": 2,
                "entities_found": 5,
            }
            assert steps["insights"] == {"skipped": True,
                                         "reason": "MCP_INSIGHT_CARDS_ENABLED=false"}  # fmt: skip
            assert steps["contradictions"] == {
                "skipped": True,
                "reason": "MCP_CONTRADICTION_DETECTION_ENABLED=false",
            }
            assert (report["errors"], report["success"]) == ([], True)
            status = json.loads(await call_ok(c, "memory_quality", {"action": "maintain_status"}))
            assert status == report
            conn = schema_mod.connect(db, readonly=True, pragmas={})
            try:
                links = "SELECT COUNT(*) FROM memory_graph WHERE relationship_type = 'has_entity'"
                assert conn.execute(links).fetchall() == [(0,)]
            finally:
                conn.close()
            real = json.loads(
                await call_ok(c, "memory_quality", {"action": "maintain", "dry_run": False})
            )
            assert real["steps"]["cleanup"] == {
                "duplicates_removed": 0,
                "message": "No duplicate memories found",
            }
            assert real["steps"]["entities"] == {
                "memories_scanned": 2,
                "entities_found": 5,
                "links_stored": 5,
            }
            conn = schema_mod.connect(db, readonly=True, pragmas={})
            try:
                found = conn.execute(
                    "SELECT source_hash, target_hash, similarity, connection_types, metadata "
                    "FROM memory_graph WHERE relationship_type = 'has_entity' ORDER BY target_hash"
                ).fetchall()
            finally:
                conn.close()
            assert [tuple(r) for r in found] == [
                (source, name, 1.0, '["entity"]', json.dumps({"entity_type": kind}))
                for source, name, kind in ((h, "alice", "person"), (h, "auth-v2", "tag"),
                                           (h, "ops", "tag"), (h, "src/main.py", "file"),
                                           (plain, "untagged", "tag"))
            ]  # fmt: skip


async def test_maintain_says_what_memhub_does_not_run(db: Path) -> None:
    with trio.fail_after(90):
        async with open_bridge(
            db,
            MEMHUB_TOOL_SCHEMAS="v12",
            MCP_CONTRADICTION_DETECTION_ENABLED="true",
            MCP_INSIGHT_CARDS_ENABLED="true",
        ) as c:
            await call_ok(c, "memory_store", {"content": "anything"})
            report = json.loads(await call_ok(c, "memory_quality", {"action": "maintain"}))
            assert report["success"] is False
            assert [e.split(":")[0] for e in report["errors"]] == ["insights", "contradictions"]
            assert "memhub does not" in report["steps"]["contradictions"]["error"]
            assert "memhub does not" in report["steps"]["insights"]["error"]


async def test_maintain_auto_resolves_and_counts_stale_as_124(db: Path) -> None:
    day = 86400.0
    with trio.fail_after(90):
        async with open_bridge(
            db,
            MEMHUB_TOOL_SCHEMAS="v12",
            MCP_MAINTAIN_AUTO_RESOLVE="true",
            MCP_MAINTAIN_AUTO_RESOLVE_THRESHOLD="0.9",
        ) as c:
            old = stored_hash(await call_ok(c, "memory_store", {"content": "the api runs on v1"}))
            new = stored_hash(await call_ok(c, "memory_store", {"content": "the api runs on v2"}))
            near = stored_hash(await call_ok(c, "memory_store", {"content": "deploys on friday"}))
            other = stored_hash(await call_ok(c, "memory_store", {"content": "deploys on monday"}))
            conn = apsw.Connection(str(db))
            conn.execute(
                "UPDATE memories SET created_at = created_at - ? WHERE content_hash = ?",
                (40 * day, old),
            )
            for a, b, sim in ((old, new, 0.97), (near, other, 0.5)):
                for s, t in ((a, b), (b, a)):
                    conn.execute(
                        "INSERT INTO memory_graph VALUES (?, ?, ?, '[\"semantic\"]', '{}', 1.0, "
                        "'contradicts')",
                        (s, t, sim),
                    )
            conn.close()
            dry = json.loads(await call_ok(c, "memory_quality", {"action": "maintain"}))
            assert dry["config"]["auto_resolve"] is True
            assert dry["config"]["auto_resolve_threshold"] == 0.9
            assert dry["steps"]["stale"] == {"stale_days_threshold": 30, "stale_count": 1}
            assert [d["action"] for d in dry["steps"]["conflicts"]["details"]] == ["skipped"] * 2
            real = json.loads(
                await call_ok(c, "memory_quality", {"action": "maintain", "dry_run": False})
            )
            conflicts = real["steps"]["conflicts"]
            assert (conflicts["total"], conflicts["auto_resolved"], conflicts["skipped"]) == (
                2,
                1,
                1,
            )
            by_pair = {frozenset((d["hash_a"], d["hash_b"])): d for d in conflicts["details"]}
            resolved = by_pair[frozenset((old[:12], new[:12]))]
            assert (resolved["action"], resolved["winner"], resolved["similarity"]) == (
                "auto_resolved",
                new[:12],
                0.97,
            )
            assert by_pair[frozenset((near[:12], other[:12]))]["action"] == "below_threshold"
    conn = schema_mod.connect(db, readonly=True, pragmas={})
    try:
        [(superseded,)] = conn.execute(
            "SELECT superseded_by FROM memories WHERE content_hash = ?", (old,)
        ).fetchall()
    finally:
        conn.close()
    assert superseded == new
