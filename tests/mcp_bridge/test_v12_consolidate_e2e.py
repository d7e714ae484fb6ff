"""``memory_consolidate`` end to end: a real ``memhub bridge`` and daemon (hash embedder).

Texts are 12.4's (``server/handlers/consolidation.py``); what a merge leaves is checked in
the file: the merged row live, the sources soft-deleted, their graph edges gone.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
import trio

from .e2e import call_err, call_ok, open_bridge, rows, stored_hash

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


async def test_merge_end_to_end_with_the_switch_off(db: Path) -> None:
    with trio.fail_after(90):
        async with open_bridge(db, MEMHUB_TOOL_SCHEMAS="v12") as c:
            stored = [
                stored_hash(
                    await call_ok(
                        c,
                        "memory_store",
                        {"content": text, "tags": tags, "memory_type": "decision"},
                    )
                )
                for text, tags in (
                    ("we deploy on thursdays", ["deploy"]),
                    ("deploys happen thursday afternoons", ["ops", "deploy"]),
                )
            ]
            a, b = stored
            assert await call_ok(c, "memory_consolidate", {"action": "status"}) == (
                "Consolidation is disabled"
            )
            for args, expected in (
                ({"content_hashes": [a]}, "at least 2 hashes"),
                ({"content_hashes": [a, a], "merged_content": "x"}, "at least 2 hashes"),
                ({"content_hashes": [a, b], "merged_content": " "}, "non-empty string"),
                ({"content_hashes": [a, "0" * 64], "merged_content": "x"},
                 f"memories not found: {'0' * 64}"),
                ({"content_hashes": [f"{i:064x}" for i in range(1001)], "merged_content": "x"},
                 "too many content_hashes: 1001 (at most 1000)"),
                ({"content_hashes": [a, b], "merged_content": "we deploy on thursdays"},
                 "failed to store merged memory: Duplicate content detected (exact match)"),
            ):  # fmt: skip
                text = await call_ok(c, "memory_consolidate", {"action": "merge", **args})
                assert text.startswith("Error: "), text
                assert expected in text, text
            assert len(rows(db, "SELECT 1 FROM memories WHERE deleted_at IS NULL")) == 2
            text = await call_ok(
                c,
                "memory_consolidate",
                {
                    "action": "merge",
                    "content_hashes": [a, b],
                    "merged_content": "Deploys happen on Thursday afternoons.",
                },
            )
            answer = json.loads(text)
            new = answer["content_hash"]
            assert text == json.dumps(
                {"ok": True, "content_hash": new, "merged": [a, b], "deleted": [a, b],
                 "failed": None}
            )  # fmt: skip
            live = rows(
                db, "SELECT content_hash, tags, memory_type FROM memories WHERE deleted_at IS NULL"
            )
            assert live == [(new, "deploy,ops", "decision")]
            gone = rows(db, "SELECT content_hash FROM memories WHERE deleted_at IS NOT NULL")
            assert sorted(str(h) for (h,) in gone) == sorted([a, b])
            edges = rows(
                db,
                "SELECT 1 FROM memory_graph WHERE source_hash IN (?, ?) OR target_hash IN (?, ?)",
                a,
                b,
                a,
                b,
            )
            assert edges == []
            found = await call_ok(c, "memory_search", {"query": "thursday deploys"})
            assert new in found
            bad = await call_err(
                c, "memory_consolidate", {"action": "merge", "content_hashes": "x"}
            )
            assert bad.startswith("Input validation error: 'x' is not of type 'array'")


async def test_reporting_actions_with_the_switch_on(db: Path) -> None:
    with trio.fail_after(90):
        async with open_bridge(
            db, MEMHUB_TOOL_SCHEMAS="v12", MCP_CONSOLIDATION_ENABLED="true"
        ) as c:
            for i in range(3):
                await call_ok(c, "memory_store", {"content": f"weekly note {i}"})
            text = await call_ok(
                c, "memory_consolidate", {"action": "recommend", "time_horizon": "weekly"}
            )
            head, _, tail = text.partition("\n\nMemory Types:\n")
            assert head == (
                "Consolidation Recommendations for weekly horizon:\n\n"
                "Recommendation: OPTIONAL\nMemory Count: 3\n\n"
                "Reasons:\n  • Memory state looks healthy"
            )
            assert tail.endswith(
                "\n\nTotal Size: 0.00 MB\nOld Memory Percentage: 0.0%\n"
                "Estimated Duration: 0.0 seconds"
            )
            status = await call_ok(c, "memory_consolidate", {"action": "status"})
            assert status.startswith("Consolidation System Status: UNHEALTHY\nLast Updated: ")
            assert "  storage_backend: HEALTHY\n" in status
            assert status.endswith("  Total memories archived: 0")
            assert await call_ok(c, "scheduler_status") == (
                "Scheduler: DISABLED\nReason: memhub runs no background consolidation scheduler"
            )
            assert await call_ok(c, "pause_consolidation") == (
                "Error: Consolidation scheduler not available"
            )
            ran = await call_ok(c, "memory_consolidate", {"action": "run", "time_horizon": "daily"})
            assert ran.startswith("Consolidation completed successfully!\n\nTime Horizon: daily\n")
            assert "\nMemories Processed: 3\nAssociations Discovered: 0\n" in ran
            scored = rows(db, "SELECT 1 FROM memories WHERE json_extract(metadata, "
                          "'$.relevance_score') IS NOT NULL")  # fmt: skip
            assert len(scored) == 3
            status = await call_ok(c, "memory_consolidate", {"action": "status"})
            assert "  Total consolidation runs: 1\n" in status
