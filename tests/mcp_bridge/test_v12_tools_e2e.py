"""12.4's extra tools end to end: a real ``memhub bridge`` and daemon (hash embedder).

Texts are 12.4's (see /work/research notes cited in the modules); what memhub writes is
checked in the file itself, where 12.4 would read it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import apsw
import pytest
import trio

from memhub.domain.hashing import content_hash

from .e2e import call_err, call_ok, open_bridge, rows, stored_hash, text_of

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow


NOTE = {
    "error_pattern": "KeyError: 'id'",
    "context_signature": "parser.py load()",
    "incorrect_action": "indexing the dict directly",
    "correct_action": "use .get('id') with a default",
}


async def test_mistake_notes_as_124_keeps_them(db: Path) -> None:
    with trio.fail_after(90):
        async with open_bridge(db, MEMHUB_TOOL_SCHEMAS="v12") as c:
            tools = [t.name for t in (await c.list_tools()).tools]
            assert len(tools) == 28
            created = json.loads(await call_ok(c, "mistake_note_add", NOTE))
            content = (
                "Pattern: KeyError: 'id'\nContext: parser.py load()\n"
                "Wrong: indexing the dict directly\nRight: use .get('id') with a default"
            )
            assert created == {
                "status": "created",
                "content_hash": content_hash(content),
                "failure_count": 1,
                "message": "New mistake note recorded",
            }
            again = json.loads(await call_ok(c, "mistake_note_add", NOTE))
            assert again["status"] == "updated"
            assert again["failure_count"] == 2
            assert again["message"] == "Existing mistake note updated (seen 2 times)"
            third = json.loads(await call_ok(c, "mistake_note_add", NOTE))
            assert third["failure_count"] == 3
            [(tags, mtype, meta, store)] = rows(
                db,
                "SELECT tags, memory_type, metadata, store FROM memories WHERE deleted_at IS NULL",
            )
            assert (tags, mtype, store) == ("mistake-note,error-replay", "mistake", "default")
            assert json.loads(str(meta)) == {
                "failure_count": 3,
                "confidence": 1.0,
                "frustration_score": 3.0,
                "is_avoid_rule": False,
            }
            found = json.loads(
                await call_ok(c, "mistake_note_search", {"query": "KeyError parser"})
            )
            assert found["count"] == 1
            assert found["notes"][0]["failure_count"] == 3
            assert json.loads(
                await call_ok(c, "mistake_note_search", {"query": "x", "limit": 0})
            ) == {
                "notes": [],
                "count": 0,
            }
            # a remediation is required; nothing is written without one
            empty = json.loads(
                await call_ok(c, "mistake_note_add", {**NOTE, "correct_action": " "})
            )
            assert empty["status"] == "error"
            assert empty["message"].startswith("correct_action must not be empty — a mistake")
            # schema violations are 12.4's SDK answers
            missing = await call_err(c, "mistake_note_add", {"error_pattern": "x"})
            assert missing == "Input validation error: 'context_signature' is a required property"

            h = created["content_hash"]
            counted = json.loads(
                await call_ok(c, "mistake_note_update", {"content_hash": h, "failure_count": 7})
            )
            assert counted == {"status": "updated", "content_hash": h}
            changed = json.loads(
                await call_ok(
                    c, "mistake_note_update", {"content_hash": h, "correct_action": "use dict.get"}
                )
            )
            new = changed["content_hash"]
            assert new == content_hash(
                content.replace("use .get('id') with a default", "use dict.get")
            )
            [(meta,)] = rows(db, "SELECT metadata FROM memories WHERE content_hash = ?", new)
            assert json.loads(str(meta))["failure_count"] == 7
            assert rows(
                db, "SELECT deleted_at IS NOT NULL FROM memories WHERE content_hash = ?", h
            ) == [(1,)]
            nothing = json.loads(await call_ok(c, "mistake_note_update", {"content_hash": new}))
            assert nothing == {"status": "error", "message": "No fields to update"}
            plain = stored_hash(await call_ok(c, "memory_store", {"content": "not a mistake"}))
            refused = json.loads(await call_ok(c, "mistake_note_delete", {"content_hash": plain}))
            assert refused["message"] == f"Memory {plain} is not a mistake note (type=note)"
            unknown = json.loads(
                await call_ok(c, "mistake_note_delete", {"content_hash": "0" * 64})
            )
            assert unknown["message"] == f"No memory found with hash {'0' * 64}"
            gone = json.loads(await call_ok(c, "mistake_note_delete", {"content_hash": new}))
            assert gone == {"status": "deleted", "content_hash": new}


async def test_conflicts_resolve_and_quarantine_on_124s_rows(db: Path) -> None:
    with trio.fail_after(90):
        async with open_bridge(db, MEMHUB_TOOL_SCHEMAS="v12") as c:
            assert await call_ok(c, "memory_conflicts") == "No unresolved conflicts found."
            a = stored_hash(
                await call_ok(
                    c,
                    "memory_store",
                    {"content": "The server port is 8000", "tags": ["conflict:unresolved", "ops"]},
                )
            )
            b = stored_hash(
                await call_ok(
                    c,
                    "memory_store",
                    {"content": "The server port is 9000", "tags": ["conflict:unresolved"]},
                )
            )
            # the rows 12.4's store-time detector writes (both directions)
            conn = apsw.Connection(str(db))
            meta = json.dumps({"similarity": 0.97, "divergence": 0.25, "detected_at": 1.0})
            for s, t in ((a, b), (b, a)):
                conn.execute(
                    "INSERT INTO memory_graph VALUES "
                    "(?, ?, 0.97, '[\"semantic\"]', ?, 1.0, 'contradicts')",
                    (s, t, meta),
                )
            conn.close()
            low, high = sorted([a, b])
            contents = {a: "The server port is 8000", b: "The server port is 9000"}
            assert await call_ok(c, "memory_conflicts") == (
                "Found 1 conflict(s):\n\n"
                f"- {low[:12]} vs {high[:12]} (similarity: 0.97, divergence: 0.25)\n"
                f"  A: {contents[low]}\n  B: {contents[high]}"
            )
            missing = await call_ok(c, "memory_resolve", {"winner_hash": "0" * 64, "loser_hash": b})
            assert missing == f"Winner memory {'0' * 64} not found or deleted"
            done = await call_ok(c, "memory_resolve", {"winner_hash": a, "loser_hash": b})
            assert done == f"Conflict resolved: {a[:8]} supersedes {b[:8]}"
            assert await call_ok(c, "memory_conflicts") == "No unresolved conflicts found."
            assert rows(db, "SELECT superseded_by FROM memories WHERE content_hash = ?", b) == [
                (a,)
            ]
            assert rows(db, "SELECT tags, confidence FROM memories WHERE content_hash = ?", a) == [
                ("ops", 1.0)
            ]
            assert len(rows(db, "SELECT 1 FROM memory_graph")) == 2
            blank = await call_ok(c, "memory_resolve", {"winner_hash": "", "loser_hash": b})
            assert blank.startswith("Error: winner_hash and loser_hash required")

            assert json.loads(await call_ok(c, "get_quarantined_memories")) == {
                "quarantined": [],
                "count": 0,
            }
            q = stored_hash(
                await call_ok(
                    c, "memory_store", {"content": "a quarantined claim", "tags": ["quarantined"]}
                )
            )
            conn = apsw.Connection(str(db))
            conn.execute(
                "UPDATE memories SET metadata = ? WHERE content_hash = ?",
                (json.dumps({"quarantined": True, "quarantined_at": "2026-01-01T00:00:00+00:00",
                             "contradicted_belief": None, "quarantine_reason": "nli"}), q),
            )  # fmt: skip
            conn.close()
            listed = json.loads(await call_ok(c, "get_quarantined_memories", {"limit": 5}))
            assert listed == {
                "quarantined": [
                    {
                        "content_hash": q,
                        "content": "a quarantined claim",
                        "contradicted_belief": None,
                        "contradicted_memory": None,
                        "quarantined_at": "2026-01-01T00:00:00+00:00",
                        "reason": "nli",
                    }
                ],
                "count": 1,
            }
            released = json.loads(await call_ok(c, "unquarantine_memory", {"content_hash": q}))
            assert released == {"status": "unquarantined", "content_hash": q}
            assert json.loads(await call_ok(c, "get_quarantined_memories"))["count"] == 0
            assert rows(db, "SELECT tags FROM memories WHERE content_hash = ?", q) == [
                ("quarantined",)
            ]
            nope = json.loads(await call_ok(c, "unquarantine_memory", {"content_hash": "nope"}))
            assert nope == {"status": "error", "message": "Memory with hash nope not found"}
            assert (
                await call_ok(c, "unquarantine_memory", {"content_hash": ""})
                == "Error: content_hash is required"
            )


async def test_versioned_update_links_versions_and_keeps_the_store(db: Path) -> None:
    with trio.fail_after(90):
        async with open_bridge(db, MEMHUB_TOOL_SCHEMAS="v12") as c:
            old = stored_hash(
                await call_ok(
                    c,
                    "memory_store",
                    {"content": "deploys on tuesday", "store": "work", "tags": ["ops"]},
                )
            )
            text = await call_ok(
                c,
                "memory_update",
                {
                    "content_hash": old,
                    "versioned": True,
                    "updates": {
                        "content": "deploys on wednesday",
                        "reason": "moved",
                        "metadata": {"k": 1},
                    },
                },
            )
            new = content_hash("deploys on wednesday")
            assert text == (
                f"Versioned update successful. New hash: {new}, parent hash: {old}. "
                "Memory versioned successfully"
            )
            assert rows(
                db,
                "SELECT parent_id, version, store, tags FROM memories WHERE content_hash = ?",
                new,
            ) == [(old, 2, "work", "ops")]
            [(sup, meta)] = rows(
                db, "SELECT superseded_by, metadata FROM memories WHERE content_hash = ?", old
            )
            assert sup == new
            assert json.loads(str(meta)) == {"superseded_by": new, "evolution_reason": "moved"}
            # both rows keep a vector in the 'work' partition; search finds the new one only
            assert len(rows(db, "SELECT rowid FROM memory_embeddings WHERE store = 'work'")) == 2
            found = await call_ok(c, "memory_search", {"query": "deploys", "store": "work"})
            assert new in found
            assert old not in found
            again = await call_ok(
                c,
                "memory_update",
                {"content_hash": old, "versioned": True, "updates": {"content": "x y z"}},
            )
            assert again.startswith("Failed versioned update: Failed to link version: old version")
            assert (
                rows(db, "SELECT 1 FROM memories WHERE content_hash = ?", content_hash("x y z"))
                == []
            )
            empty = await call_ok(
                c,
                "memory_update",
                {"content_hash": old, "versioned": True, "updates": {"reason": "r"}},
            )
            assert empty == "Error: versioned update requires 'content' field in updates."


async def test_session_commits_guides_and_distill(db: Path) -> None:
    with trio.fail_after(90):
        async with open_bridge(db, MEMHUB_TOOL_SCHEMAS="v12") as c:
            missing = await call_ok(
                c,
                "commit_session_legacy",
                {"session_id": "", "agent_id": "a", "task_summary": "t", "outcome": "success"},
            )
            assert missing == (
                '{"status": "error", "message": "Missing required fields: session_id, agent_id, '
                'task_summary, outcome"}'
            )
            bad = await call_err(
                c,
                "commit_session_legacy",
                {"session_id": "s", "agent_id": "a", "task_summary": "t", "outcome": "meh"},
            )
            assert (
                bad
                == "Input validation error: 'meh' is not one of ['success', 'partial', 'failure']"
            )
            args = {
                "session_id": "s1",
                "agent_id": "agent-a",
                "task_summary": "fix the parser",
                "outcome": "success",
                "errors": [
                    {"error": "KeyError", "tool": "pytest", "resolution": "use get"},
                    {"error": "x"},
                ],
                "user_corrections": [{"original": "tabs", "corrected_to": "spaces"}],
                "decisions": [{"what": "use ruff", "why": "fast"}],
            }
            recorded = await call_ok(c, "commit_session_legacy", args)
            assert (
                recorded
                == '{"status": "recorded", "observations_created": 3, "mistake_notes_updated": 2}'
            )
            await call_ok(
                c,
                "commit_session_legacy",
                {**args, "errors": [], "user_corrections": [], "decisions": []},
            )
            contents = {
                str(r[0]) for r in rows(db, "SELECT content FROM memories WHERE deleted_at IS NULL")
            }
            assert (
                "Session: s1 | Agent: agent-a | Task: fix the parser | Outcome: success" in contents
            )
            assert "User corrected: tabs → spaces" in contents
            assert "Decision: use ruff — Reason: fast" in contents
            [(meta, tags)] = rows(
                db,
                "SELECT metadata, tags FROM memories WHERE content = '__session_counter_agent-a'",
            )
            assert tags == "session-counter,internal"
            assert json.loads(str(meta))["session_count"] == 2
            assert len(rows(db, "SELECT 1 FROM memories WHERE memory_type = 'mistake'")) == 1

            guide = await call_ok(c, "get_onboarding_guide", {"client_type": "claude-code"})
            assert len(guide) == 1728
            assert len(await call_ok(c, "get_onboarding_guide", {})) == 1726
            assert len(await call_ok(c, "get_onboarding_guide", {"client_type": "kiro"})) == 3199
            profile = await call_ok(c, "get_bootstrap_profile", {"agent_ids": ["agent-a"]})
            assert profile == (
                "=== BEHAVIORAL PROFILE (v1) ===\n\n"
                "Bootstrap disabled. Set MCP_BOOTSTRAP_ENABLED=true to enable.\n=== END PROFILE ==="
            )
            assert await call_err(c, "get_bootstrap_profile", {"agent_ids": []}) == (
                "Input validation error: [] should be non-empty"
            )

            long_text = "A long observation about the deploy pipeline. " * 6
            h = stored_hash(
                await call_ok(
                    c, "memory_store", {"content": long_text, "memory_type": "observation"}
                )
            )
            dry = json.loads(await call_ok(c, "memory_distill", {}))
            assert dry == {
                "dry_run": True,
                "candidates_found": 1,
                "candidates": [{"hash": h, "type": "observation", "preview": long_text[:150]}],
            }
            before = rows(db, "SELECT COUNT(*) FROM memories")
            real = json.loads(await call_ok(c, "memory_distill", {"dry_run": False}))
            assert real == {
                "dry_run": False,
                "processed": 1,
                "stored": 0,
                "skipped": 1,
                "insights": [],
            }
            assert rows(db, "SELECT COUNT(*) FROM memories") == before


async def test_the_tools_work_by_name_without_v12_advertising(db: Path) -> None:
    with trio.fail_after(60):
        async with open_bridge(db) as c:
            assert len((await c.list_tools()).tools) == 9
            result = await c.call_tool("get_onboarding_guide", {"client_type": "kiro"})
            assert not result.is_error
            assert len(text_of(result)) == 3199


async def test_memory_graph_texts_and_bad_input(db: Path) -> None:
    with trio.fail_after(60):
        async with open_bridge(db, MEMHUB_TOOL_SCHEMAS="v12") as c:
            a = stored_hash(await call_ok(c, "memory_store", {"content": "graph node a"}))
            b = stored_hash(await call_ok(c, "memory_store", {"content": "graph node b"}))
            conn = apsw.Connection(str(db))
            conn.execute(
                "INSERT INTO memory_graph VALUES (?, ?, 0.5, '[\"x\"]', '{}', 1.0, 'causes')",
                (a, b),
            )
            conn.close()
            path = json.loads(
                await call_ok(c, "memory_graph", {"action": "path", "hash1": a, "hash2": b})
            )
            assert path == {"success": True, "path": [a, b], "length": 2}
            near = json.loads(await call_ok(c, "memory_graph", {"action": "connected", "hash": b}))
            assert near == {"success": True, "connected": [{"hash": a, "distance": 1}], "count": 1}
            assert await call_ok(c, "memory_graph", {"action": "connected"}) == (
                "Error: hash is required for 'connected' action"
            )
            assert await call_ok(c, "memory_graph", {"action": "path", "hash1": a}) == (
                "Error: hash1 and hash2 are required for 'path' action"
            )
            bad = await call_err(c, "memory_graph", {"action": "list_entities"})
            assert bad.startswith("Input validation error: 'list_entities' is not one of")
            huge = await call_ok(
                c, "memory_graph", {"action": "connected", "hash": a, "max_hops": 10**6}
            )
            assert huge == (
                "Error in memory_graph action 'connected': "
                "max_hops must be between 0 and 16, got 1000000"
            )


async def test_explore_and_detail_read_124s_entity_rows(db: Path) -> None:
    auth = "Auth design uses tokens. Rotate them weekly"
    pool = "Database pooling notes"
    with trio.fail_after(90):
        async with open_bridge(db, MEMHUB_TOOL_SCHEMAS="v12") as c:
            a = stored_hash(await call_ok(c, "memory_store", {"content": auth, "tags": ["auth"]}))
            b = stored_hash(await call_ok(c, "memory_store", {"content": pool}))
            # the rows 12.4's maintain step writes (store_entity_link)
            conn = apsw.Connection(str(db))
            for source, name, kind, at in (
                (a, "auth", "tag", 10.0),
                (a, "Tokens", "custom", 20.0),
                (b, "db", "tag", 30.0),
            ):
                conn.execute(
                    "INSERT OR IGNORE INTO memory_graph VALUES "
                    "(?, ?, 1.0, '[\"entity\"]', ?, ?, 'has_entity')",
                    (source, name, json.dumps({"entity_type": kind}), at),
                )
            conn.close()

            found = json.loads(
                await call_ok(c, "memory_explore", {"query": auth, "max_entities": 1})
            )
            [tokens] = found["entities"]
            assert found["count"] == 1
            assert {k: v for k, v in tokens.items() if k != "top_chunks"} == {
                "entity_id": "tokens",
                "name": "Tokens",
                "entity_type": "custom",
                "summary": "Auth design uses tokens.",
                "relation_count": 1,
            }
            [top] = tokens["top_chunks"]
            assert (top["hash"], top["content"]) == (a, auth)
            assert top["relevance"] == pytest.approx(1.0, abs=1e-5)  # the query is its text

            # no retrieved memory has an entity: 12.4's most linked entities, chunkless
            fallback = json.loads(
                await call_ok(c, "memory_explore", {"query": auth, "tags": ["nothing"]})
            )
            assert [(e["name"], e["top_chunks"]) for e in fallback["entities"]] == [
                ("Tokens", []),
                ("auth", []),
                ("db", []),
            ]

            detail = json.loads(await call_ok(c, "memory_detail", {"entity_id": "auth"}))
            assert detail == {
                "entity_id": "auth",
                "name": "auth",
                "chunks": [{"hash": a, "content": auth, "relevance": 0.5}],
                "related_entities": [],
            }
            unknown = json.loads(await call_ok(c, "memory_detail", {"entity_id": "nope"}))
            assert unknown == {
                "success": False,
                "error": "Unknown entity_id: nope",
                "entity_id": "nope",
                "chunks": [],
                "related_entities": [],
            }
            assert json.loads(await call_ok(c, "memory_explore", {"query": ""})) == {
                "success": False,
                "error": "Missing required parameter: query",
                "entities": [],
                "count": 0,
            }
            assert json.loads(await call_ok(c, "memory_detail", {"entity_id": ""}))["error"] == (
                "Missing required parameter: entity_id"
            )
            # hostile input meets 12.4's schema first
            assert await call_err(c, "memory_detail", {"entity_id": "auth", "limit": 10**9}) == (
                "Input validation error: 1000000000 is greater than the maximum of 200"
            )
            assert await call_err(c, "memory_detail", {"entity_id": "auth", "max_hops": 9}) == (
                "Input validation error: 9 is greater than the maximum of 4"
            )
            assert await call_err(c, "memory_explore", {"max_entities": 5}) == (
                "Input validation error: 'query' is a required property"
            )
            # what the daemon refuses is 12.4's exception shape, not flagged
            bad = json.loads(await call_ok(c, "memory_explore", {"query": "x", "store": "a\x07"}))
            assert (bad["success"], bad["entities"], bad["count"]) == (False, [], 0)
            assert bad["error"].startswith("invalid store")
            everywhere = {"entity_id": "auth", "store": "all", "include_related": False}
            assert json.loads(await call_ok(c, "memory_detail", everywhere))["chunks"] == [
                {"hash": a, "content": auth, "relevance": 0.5}
            ]
            # read-only: nothing was written by the two tools
            assert len(rows(db, "SELECT 1 FROM memory_graph")) == 3


async def test_entity_linking_on_store_feeds_explore(db: Path) -> None:
    first = "Deploy notes for @ann: run scripts/deploy.sh"
    with trio.fail_after(90):
        async with open_bridge(
            db, MEMHUB_TOOL_SCHEMAS="v12", MCP_ENTITY_LINKING_ENABLED="true"
        ) as c:
            a = stored_hash(await call_ok(c, "memory_store", {"content": first, "tags": ["ops"]}))
            b = stored_hash(
                await call_ok(c, "memory_store", {"content": "@ann owns the #release train"})
            )
            found = json.loads(await call_ok(c, "memory_explore", {"query": first}))
            assert [(e["entity_id"], e["entity_type"]) for e in found["entities"]][:3] == [
                ("ann", "person"),
                ("ops", "tag"),
                ("scripts-deploy-sh", "file"),
            ]
            ann = json.loads(await call_ok(c, "memory_detail", {"entity_id": "ann"}))
            assert {ch["hash"] for ch in ann["chunks"]} == {a, b}
            # a new version is linked too (12.4's post-store step); the old one keeps its rows
            await call_ok(
                c,
                "memory_update",
                {"content_hash": b, "versioned": True, "updates": {"content": "@ann owns #qa"}},
            )
            qa = json.loads(await call_ok(c, "memory_detail", {"entity_id": "qa"}))
            assert [ch["hash"] for ch in qa["chunks"]] == [content_hash("@ann owns #qa")]
    assert rows(
        db,
        "SELECT relationship_type, connection_types, metadata FROM memory_graph "
        "WHERE source_hash = ? AND target_hash = ?",
        b,
        a,
    ) == [("shares_entity", '["entity"]', '{"shared_entity": "ann"}')]
