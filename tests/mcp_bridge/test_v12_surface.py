"""12.x's arguments, the prompts and the isError rule, through real ``memhub bridge`` processes."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
import trio

from .e2e import call_err, call_ok, call_refused, open_bridge, stored_hash

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


def hashes_in(text: str) -> set[str]:
    return {line.split("Hash: ", 1)[1] for line in text.splitlines() if "Hash: " in line}


async def test_agent_scoped_search_and_list_never_return_another_agents_memory(db: Path) -> None:
    with trio.fail_after(120):
        async with open_bridge(db) as c:
            mine = stored_hash(
                await call_ok(c, "memory_store", {"content": "release notes", "agent_id": "a"})
            )
            # Other agents' memories that are closer to the query than agent a's own: a
            # post-filter after a top-1 cut would return nothing (or theirs).
            others = [
                stored_hash(
                    await call_ok(
                        c,
                        "memory_store",
                        {"content": f"deploy checklist step {i}", "agent_id": "b"},
                    )
                )
                for i in range(12)
            ]
            tagged = stored_hash(
                await call_ok(
                    c,
                    "memory_store",
                    {"content": "deploy checklist by tag", "metadata": {"tags": ["agent:a"]}},
                )
            )
            found = await call_ok(
                c, "memory_search", {"query": "deploy checklist", "agent_id": "a", "limit": 1}
            )
            assert found.startswith("Found 1 memories (mode: semantic)")
            assert hashes_in(found) <= {mine, tagged}
            both = await call_ok(
                c, "memory_search", {"query": "deploy checklist", "agent_id": "a", "limit": 10}
            )
            assert hashes_in(both) == {mine, tagged}
            exact = await call_ok(
                c, "memory_search", {"query": "checklist", "agent_id": "a", "mode": "exact"}
            )
            assert hashes_in(exact) == {tagged}
            hybrid = await call_ok(
                c, "memory_search", {"query": "checklist", "agent_id": "a", "mode": "hybrid"}
            )
            assert tagged in hashes_in(hybrid) <= {mine, tagged}
            unscoped = await call_ok(c, "memory_search", {"query": "deploy checklist"})
            assert hashes_in(unscoped) & set(others)

            listed = json.loads(await call_ok(c, "memory_list", {"agent_id": "a"}))
            assert listed["total"] == 2
            assert {x["content_hash"] for x in listed["memories"]} == {mine, tagged}
            assert json.loads(await call_ok(c, "memory_list", {"agent_id": "b"}))["total"] == 12
            assert json.loads(await call_ok(c, "memory_list", {"agent_id": "zz"}))["total"] == 0

            row = next(
                x for x in json.loads(await call_ok(c, "memory_list", {}))["memories"]
                if x["content_hash"] == mine
            )  # fmt: skip
            assert row["metadata"]["agent_id"] == "a"


async def test_agent_id_comes_from_the_environment_on_writes_only(db: Path) -> None:
    with trio.fail_after(60):
        async with open_bridge(db, MCP_AGENT_ID="env-agent") as c:
            h = stored_hash(await call_ok(c, "memory_store", {"content": "from env"}))
            session = await call_ok(
                c,
                "memory_store_session",
                {"turns": [{"role": "user", "content": "hi"}], "session_id": "s1"},
            )
            assert "session_id: s1" in session
            listed = json.loads(await call_ok(c, "memory_list", {"agent_id": "env-agent"}))
            assert listed["total"] == 2
            assert h in {x["content_hash"] for x in listed["memories"]}
            explicit = stored_hash(
                await call_ok(c, "memory_store", {"content": "explicit", "agent_id": "x"})
            )
            scoped = json.loads(await call_ok(c, "memory_list", {"agent_id": "x"}))
            assert [x["content_hash"] for x in scoped["memories"]] == [explicit]


async def test_stores_modes_and_summarize(db: Path) -> None:
    with trio.fail_after(60):
        async with open_bridge(db) as c:
            h = stored_hash(
                await call_ok(c, "memory_store", {"content": "named stores", "store": "default"})
            )
            docs = stored_hash(
                await call_ok(c, "memory_store", {"content": "the docs store", "store": "docs"})
            )
            assert json.loads(await call_ok(c, "memory_list", {}))["total"] == 1
            in_docs = json.loads(await call_ok(c, "memory_list", {"store": "docs"}))
            assert [x["content_hash"] for x in in_docs["memories"]] == [docs]
            found = await call_ok(c, "memory_search", {"query": "named stores", "store": "docs"})
            assert docs in found
            assert h not in found
            again = await call_refused(
                c, "memory_store", {"content": "The docs store", "store": "default"}
            )
            assert "already exists in store 'docs'" in again
            refused = await call_refused(c, "memory_store", {"content": "x", "store": "all"})
            assert "store='all' is only valid for read scopes" in refused

            every = await call_ok(c, "memory_search", {"query": "named stores", "store": "all"})
            assert h in every
            assert docs in every
            listed = json.loads(await call_ok(c, "memory_list", {"store": "all"}))
            assert listed["total"] == 2

            ranked = await call_ok(c, "memory_search", {"query": "named stores", "mode": "ranked"})
            assert ranked.startswith("Note: memhub has no 'ranked' mode")
            assert "(mode: semantic)" in ranked
            no_query = await call_refused(c, "memory_search", {"mode": "ranked", "tags": ["x"]})
            assert no_query == "Error: query required for ranked mode"

            summary = await call_ok(
                c, "memory_search", {"query": "named stores", "summarize": True, "rerank": True}
            )
            assert summary.startswith(
                "Summarization unavailable: disabled by MCP_SEARCH_SUMMARIZE_ENABLED. "
                "Returning raw results.\n\nFound 1 memories"
            )


async def test_outcomes_and_validation_errors(db: Path) -> None:
    with trio.fail_after(60):
        async with open_bridge(db) as c:
            h = stored_hash(await call_ok(c, "memory_store", {"content": "once"}))
            dup = await call_refused(c, "memory_store", {"content": "once"})
            assert dup == "Error storing memory: Duplicate content detected (exact match)"
            unknown = await call_refused(c, "memory_nonexistent", {})
            assert json.loads(unknown) == {"error": "Unknown tool: memory_nonexistent"}
            assert (await call_err(c, "memory_update", {"content_hash": h})) == (
                "Input validation error: 'updates' is a required property"
            )
            assert (await call_err(c, "memory_search", {"query": "q", "limit": "many"})) == (
                "Input validation error: 'many' is not of type 'integer'"
            )
            # A near miss memhub can use is still accepted (upstream refuses it).
            assert (await call_ok(c, "memory_search", {"query": "once", "limit": "2"})).startswith(
                "Found 1 memories"
            )


async def test_prompts_list_and_get(db: Path) -> None:
    with trio.fail_after(60):
        async with open_bridge(db) as c:
            listed = await c.list_prompts()
            assert [p.name for p in listed.prompts] == [
                "memory_review",
                "memory_analysis",
                "knowledge_export",
                "memory_cleanup",
                "learning_session",
            ]
            review = next(p for p in listed.prompts if p.name == "memory_review")
            assert [(a.name, a.required) for a in review.arguments or []] == [
                ("time_period", True),
                ("focus_area", False),
            ]
            await call_ok(c, "memory_store", {"content": "learned trio", "tags": ["py", "trio"]})
            got = await c.get_prompt("memory_analysis", {"tags": "py"})
            assert got.description == "Result of memory_analysis prompt"
            text = got.messages[0].content.text  # type: ignore[union-attr]
            assert text.startswith("Memory Analysis for tags: py\n\nTotal memories analyzed: 1\n")
            assert "  - trio: 1 occurrences\n" in text
            stored = await c.get_prompt(
                "learning_session", {"topic": "Async IO", "key_points": "nurseries, cancel scopes"}
            )
            note = stored.messages[0].content.text  # type: ignore[union-attr]
            assert note.startswith("Learning session stored successfully!\n\n# Learning Session:")
            tagged = json.loads(await call_ok(c, "memory_list", {"tags": ["async_io"]}))
            assert tagged["total"] == 1
            assert tagged["memories"][0]["memory_type"] == "learning"
            preview = await c.get_prompt("learning_session", {"topic": "$1", "key_points": "$2"})
            assert preview.messages[0].content.text.startswith(  # type: ignore[union-attr]
                "Preview only — not persisted."
            )
            unknown = await c.get_prompt("nope", {})
            assert unknown.messages[0].content.text == "Unknown prompt: nope"  # type: ignore[union-attr]
            resource = await c.read_resource("memory://tags")
            assert resource.contents[0].mime_type == "text/plain"


async def test_health_answers_while_the_daemon_loads_the_model(db: Path) -> None:
    # The real model: a cold daemon start takes seconds; the hash embedder starts too fast.
    with trio.fail_after(180):
        async with open_bridge(db, MEMHUB_EMBEDDER="model", MEMHUB_BRIDGE_WARMUP="0") as c:
            began = trio.current_time()
            first = await call_ok(c, "memory_health")
            waited = trio.current_time() - began
            report = json.loads(first.split("\n", 1)[1])
            assert waited < 3.0  # within the hook clients' 3 s budget, started or not
            if report["statistics"]["status"] == "starting":
                assert report["validation"]["status"] == "unhealthy"
            # The start went on in the background: soon the daemon answers for itself.
            while True:
                text = await call_ok(c, "memory_health")
                report = json.loads(text.split("\n", 1)[1])
                if report["statistics"]["status"] != "starting":
                    break
                await trio.sleep(0.5)
            assert report["validation"]["status"] == "healthy"
            assert report["statistics"]["total_memories"] == 0
