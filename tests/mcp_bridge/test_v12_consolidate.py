"""``memory_consolidate``'s texts, against a scripted daemon.

The texts are 12.4's (``server/handlers/consolidation.py``; the recommendation itself from
``consolidation/consolidator.py``'s ``get_consolidation_recommendations``). The first
recommendation text below is what 12.4's handler printed for the same recommendation; 12.4
answers ``scheduler`` without a scheduler with ``Consolidation scheduler: DISABLED``, memhub
with the shape 12.4 gives a disabled scheduler and its reason.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memhub.errors import BadRequest, Duplicate, NotFound, Unavailable
from memhub.mcp_bridge.calls import Delivery
from memhub.mcp_bridge.tools import call_tool
from memhub.mcp_bridge.v12_tools import consolidate_run
from memhub.protocol import messages as m

from .fakes import FakeDaemon, health_report


@pytest.fixture
def on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_CONSOLIDATION_ENABLED", "true")


@pytest.fixture(autouse=True)
def v12(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consolidate_run, "STATS", dict.fromkeys(consolidate_run.STATS, 0))
    monkeypatch.setenv("MEMHUB_TOOL_SCHEMAS", "v12")
    monkeypatch.delenv("MCP_CONSOLIDATION_ENABLED", raising=False)


async def consolidate(daemon: FakeDaemon, **args: Any) -> str:
    result = await call_tool(daemon, "memory_consolidate", args)
    assert not result.is_error, result.text
    return result.text


@pytest.mark.parametrize("action", ["run", "status", "recommend", "scheduler", "pause", "resume"])
async def test_off_by_default_as_in_12_4(action: str) -> None:
    daemon = FakeDaemon()
    assert await consolidate(daemon, action=action, time_horizon="weekly") == (
        "Consolidation is disabled"
    )
    assert daemon.requests == []


async def test_schema_and_action_refusals(on: None) -> None:
    bad = await call_tool(FakeDaemon(), "memory_consolidate", {"action": "dream"})
    assert bad.is_error
    assert bad.text.startswith("Input validation error: 'dream' is not one of")
    assert await consolidate(FakeDaemon(), action="run") == (
        "Error: time_horizon is required for 'run' action"
    )
    assert await consolidate(FakeDaemon(), action="recommend") == (
        "Error: time_horizon is required for 'recommend' action"
    )


def report(**over: Any) -> m.ToolData:
    values: dict[str, Any] = {
        "time_horizon": "weekly", "duration": 1.234, "memories_processed": 8,
        "associations_discovered": 13, "clusters_created": 1, "memories_compressed": 1,
        "memories_archived": 0, "errors": [],
    }  # fmt: skip
    return m.ToolData(id=1, data={**values, **over})


async def test_run_prints_12_4s_report(on: None) -> None:
    daemon = FakeDaemon(report())
    text = await consolidate(daemon, action="run", time_horizon="weekly")
    assert text == (
        "Consolidation completed successfully!\n\n"
        "Time Horizon: weekly\nDuration: 1.23 seconds\nMemories Processed: 8\n"
        "Associations Discovered: 13\nClusters Created: 1\nMemories Compressed: 1\n"
        "Memories Archived: 0"
    )
    [sent] = daemon.requests
    assert isinstance(sent, m.ConsolidateRun)
    assert sent.horizon == "weekly"
    assert sent.settings == m.ConsolidationSettings(
        retention=sent.settings.retention, archive_path=sent.settings.archive_path
    )  # 12.4's defaults
    assert sent.settings.retention["temporary"] == 7
    warned = await consolidate(FakeDaemon(report(errors=["a", "b"])), action="run",
                               time_horizon="weekly")  # fmt: skip
    assert warned.endswith("Memories Archived: 0\n\nWarnings/Errors:\n- a\n- b")
    alias = await call_tool(
        FakeDaemon(report()), "consolidate_memories", {"time_horizon": "weekly"}
    )
    assert alias.text.startswith("Consolidation completed successfully!")


async def test_run_reads_12_4s_environment(on: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_ASSOCIATION_MAX_PAIRS", "50")
    monkeypatch.setenv("MCP_DECAY_ENABLED", "False")
    monkeypatch.setenv("MCP_RETENTION_DECISION", "nonsense")
    monkeypatch.setenv("MCP_CONSOLIDATION_QUALITY_BOOST_FACTOR", "3.5")
    monkeypatch.setenv("MCP_GRAPH_STORAGE_MODE", "graph_only")
    monkeypatch.setenv("MCP_CONSOLIDATION_ARCHIVE_PATH", "/tmp/arch")
    daemon = FakeDaemon(report())
    await consolidate(daemon, action="run", time_horizon="monthly")
    [sent] = daemon.requests
    assert isinstance(sent, m.ConsolidateRun)
    s = sent.settings
    assert s.max_pairs == 50
    assert s.decay_enabled is False  # 12.4: anything but "true" (any case) is off
    assert s.retention["decision"] == 365
    assert s.quality_boost_factor == 1.2  # out of 12.4's range: its default
    assert (s.association_memories, s.association_edges) == (False, True)
    assert s.archive_path == "/tmp/arch"


async def test_run_refusals_and_busy(on: None, monkeypatch: pytest.MonkeyPatch) -> None:
    invalid = (
        "Error: Invalid time_horizon. Must be one of: daily, weekly, monthly, quarterly, "
        "yearly, incremental"
    )
    refused = await call_tool(FakeDaemon(), "memory_consolidate",
                              {"action": "run", "time_horizon": "hourly"})  # fmt: skip
    assert refused.is_error
    assert refused.text.startswith("Input validation error: 'hourly' is not one of")
    for horizon in ("hourly", 7, ["weekly"]):  # past the schema (12.4's /mcp shim)
        assert (await consolidate_run.run(FakeDaemon(), horizon)).text == invalid
    text = (await consolidate_run.run(FakeDaemon(), "incremental")).text
    assert text.startswith("Error during consolidation: memhub runs the named horizons")
    monkeypatch.setenv("MCP_CLUSTERING_ALGORITHM", "dbscan")
    daemon = FakeDaemon()
    text = await consolidate(daemon, action="run", time_horizon="weekly")
    assert text.startswith(
        "Error: Consolidation system not available (Clustering algorithm 'dbscan' requires "
        "scikit-learn, which is not installed."
    )
    assert daemon.requests == []
    monkeypatch.delenv("MCP_CLUSTERING_ALGORITHM")
    busy = data(busy=True, horizon="monthly", client="cursor", since="2026-12-03T17:00:00Z")
    assert await consolidate(FakeDaemon(busy), action="run", time_horizon="weekly") == (
        "Error during consolidation: a consolidation run is already in progress for this "
        "store (monthly, asked by cursor at 2026-12-03T17:00:00Z); nothing was started. Run it "
        "again when that one has finished."
    )
    elsewhere = data(busy=True, horizon=None, client=None, since=None)
    assert await consolidate(FakeDaemon(elsewhere), action="run", time_horizon="weekly") == (
        "Error during consolidation: a consolidation run is already in progress for this "
        "store (by another machine's daemon); nothing was started. Run it again when that one "
        "has finished."
    )
    failed = await consolidate(
        FakeDaemon(BadRequest("archive_path is required")), action="run", time_horizon="yearly"
    )
    assert failed == "Error during consolidation: archive_path is required"


async def test_scheduler_pause_resume_have_no_jobs(on: None) -> None:
    assert await consolidate(FakeDaemon(), action="scheduler") == (
        "Scheduler: DISABLED\nReason: memhub runs no background consolidation scheduler"
    )
    for action in ("pause", "resume"):
        assert await consolidate(FakeDaemon(), action=action, time_horizon="daily") == (
            "Error: Consolidation scheduler not available"
        )


async def test_status_in_12_4s_shape(on: None) -> None:
    text = await consolidate(FakeDaemon(health_report()), action="status")
    text = re.sub(r"Last Updated: \S+", "Last Updated: <iso>", text)
    assert text == "\n".join(
        [
            "Consolidation System Status: UNHEALTHY",
            "Last Updated: <iso>",
            "",
            "Component Health:",
            "  decay_calculator: HEALTHY",
            "  association_engine: HEALTHY",
            "  clustering_engine: HEALTHY",
            "  compression_engine: HEALTHY",
            "  forgetting_engine: HEALTHY",
            "  scheduler: UNHEALTHY",
            "    Error: memhub runs no background consolidation scheduler",
            "  storage_backend: HEALTHY",
            "",
            "Statistics:",
            "  Total consolidation runs: 0",
            "  Successful runs: 0",
            "  Total memories processed: 0",
            "  Total associations created: 0",
            "  Total clusters created: 0",
            "  Total memories compressed: 0",
            "  Total memories archived: 0",
        ]
    )
    down = await consolidate(FakeDaemon(Unavailable("daemon not reachable")), action="status")
    assert "  storage_backend: UNHEALTHY\n    Error: daemon not reachable\n" in down
    sick = health_report(status="unhealthy", message="write batches are failing")
    text = await consolidate(FakeDaemon(sick), action="status")
    assert "  storage_backend: UNHEALTHY\n    Error: write batches are failing\n" in text


def data(**values: Any) -> m.ToolData:
    return m.ToolData(id=1, data=values)


async def test_recommend_texts(on: None) -> None:
    daemon = FakeDaemon(
        data(memory_count=4, memory_types={"note": 3, "standard": 1}, total_size_bytes=10485,
             old_count=1)
    )  # fmt: skip
    text = await consolidate(daemon, action="recommend", time_horizon="weekly")
    assert text == (
        "Consolidation Recommendations for weekly horizon:\n\n"
        "Recommendation: OPTIONAL\nMemory Count: 4\n\n"
        "Reasons:\n  • Memory state looks healthy\n\n"
        "Memory Types:\n  note: 3\n  standard: 1\n\n"
        "Total Size: 0.01 MB\nOld Memory Percentage: 25.0%\nEstimated Duration: 0.0 seconds"
    )
    request = daemon.last
    assert isinstance(request, m.ConsolidateRecommend)
    assert (request.window_days, request.limit) == (7, 500)
    busy = FakeDaemon(
        data(memory_count=400, memory_types={"note": 400}, total_size_bytes=0, old_count=300)
    )
    text = await consolidate(busy, action="recommend", time_horizon="monthly")
    assert "Recommendation: CONSOLIDATION_BENEFICIAL\nMemory Count: 400\n" in text
    assert (
        "Reasons:\n  • Many old memories present - consider forgetting/archival\n"
        "  • Good candidate for association discovery\n"
    ) in text
    assert text.endswith("Old Memory Percentage: 75.0%\nEstimated Duration: 4.0 seconds")
    empty = FakeDaemon(data(memory_count=0, memory_types={}, total_size_bytes=0, old_count=0))
    assert await consolidate(empty, action="recommend", time_horizon="yearly") == (
        "Consolidation Recommendations for yearly horizon:\n\n"
        "Recommendation: NO_ACTION\nMemory Count: 0"
    )
    failed = FakeDaemon(BadRequest("limit must be between 1 and 10000"))
    assert await consolidate(failed, action="recommend", time_horizon="daily") == (
        "Error getting consolidation recommendations: limit must be between 1 and 10000"
    )


A = "a" * 64
B = "b" * 64


async def test_merge_works_with_the_switch_off() -> None:
    reply = data(ok=True, content_hash="c" * 64, merged=[A, B], deleted=[A, B], failed=None)
    daemon = FakeDaemon(reply)
    text = await consolidate(
        daemon, action="merge", content_hashes=[A, B, A], merged_content="merged", tags=["t"]
    )
    assert text == json.dumps(reply.data)  # 12.4's compact json.dumps
    request = daemon.last
    assert isinstance(request, m.ConsolidateMerge)
    assert (request.content_hashes, request.merged_content, request.tags) == ([A, B], "merged",
                                                                              ["t"])  # fmt: skip
    assert request.memory_type is None


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({}, "Error: content_hashes must be an array with at least 2 hashes"),
        ({"content_hashes": [A]}, "Error: content_hashes must be an array with at least 2 hashes"),
        (
            {"content_hashes": [A, A], "merged_content": "x"},
            "Error: content_hashes must be an array with at least 2 hashes",
        ),
        (
            {"content_hashes": [A, B]},
            "Error: merged_content is required and must be a non-empty string",
        ),
        (
            {"content_hashes": [A, B], "merged_content": "   "},
            "Error: merged_content is required and must be a non-empty string",
        ),
    ],
)
async def test_merge_refusals_before_the_daemon(args: dict[str, Any], expected: str) -> None:
    daemon = FakeDaemon()
    assert await consolidate(daemon, action="merge", **args) == expected
    assert daemon.requests == []


async def test_merge_failures_from_the_daemon() -> None:
    missing = FakeDaemon(NotFound(f"memories not found: {B}"))
    assert (
        await consolidate(missing, action="merge", content_hashes=[A, B], merged_content="x")
        == f"Error: memories not found: {B}"
    )
    dup = FakeDaemon(Duplicate("Duplicate content detected (exact match)"))
    assert await consolidate(dup, action="merge", content_hashes=[A, B], merged_content="x") == (
        "Error: failed to store merged memory: Duplicate content detected (exact match)"
    )
    lost = FakeDaemon(Delivery(error=NotFound(f"memories not found: {A}, {B}"), ambiguous=True,
                               sent_at=1.0))  # fmt: skip
    text = await consolidate(lost, action="merge", content_hashes=[A, B], merged_content="x")
    assert text.startswith(f"Error: memories not found: {A}, {B} (an earlier attempt")
    old = FakeDaemon(BadRequest("unknown message type 'consolidate_merge'"))
    result = await call_tool(
        old, "memory_consolidate", {"action": "merge", "content_hashes": [A, B],
                                    "merged_content": "x"}
    )  # fmt: skip
    assert result.is_error
    assert "predates memory_consolidate" in result.text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=8,
)  # fmt: skip
keys = st.sampled_from(
    ["action", "time_horizon", "content_hashes", "merged_content", "tags", "memory_type"]
)


@settings(
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    name=st.sampled_from(["memory_consolidate", "consolidate_memories",
                          "consolidation_recommendations", "pause_consolidation"]),
    args=st.dictionaries(keys, json_values, max_size=6),
    action=st.sampled_from(["run", "status", "recommend", "scheduler", "merge", None]),
)  # fmt: skip
async def test_any_arguments_give_a_text(
    on: None, name: str, args: dict[str, Any], action: str | None
) -> None:
    if action is not None:
        args["action"] = action
    reply = data(ok=True, content_hash="c" * 64, merged=[], deleted=[], failed=None,
                 memory_count=0, memory_types={}, total_size_bytes=0, old_count=0)  # fmt: skip
    daemon = FakeDaemon(*([health_report()] if args.get("action") == "status" else [reply]))
    result = await call_tool(daemon, name, args)
    assert result.text.strip()
