"""mcp-memory-service 12.4.0 in the compatibility matrix, and 12.x's agent scoping both ways.

The 12.4 rows reuse the 10.59/12.2 round trips of ``test_mms_compat.py`` (one file, both
directions). The agent tests go through 12.4's service layer (``mms_agent_driver.py``): rows
12.4 scoped to an agent must be scoped for memhub, and rows memhub scoped must be scoped for
12.4, for lists and searches alike.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import trio

from memhub.protocol import messages as m
from memhub.storage.sqlite import schema as schema_mod
from memhub.transport.client import open_daemon_client
from tests.daemon.helpers import assert_consistent, daemon_process

from .mms_env import ensure_mms_venv, mms_env, run_driver
from .test_mms_compat import THEIRS, memhub_round, memhub_round_readonly, mms_round, sqlite_master

pytestmark = [pytest.mark.compat, pytest.mark.slow]

VERSION = "12.4.0"
AGENT_DRIVER = Path(__file__).with_name("mms_agent_driver.py")

THEIRS_SCOPED: dict[str, tuple[str, dict[str, Any]]] = {
    "a_meta": ("Agent A keeps the on-call rota in the shared calendar", {"agent_id": "agent-a"}),
    "b_meta": ("Agent B keeps the on-call rota in a spreadsheet", {"agent_id": "agent-b"}),
    "a_tag": ("The on-call rota changes every Monday morning", {"tags": ["agent:agent-a"]}),
    "nobody": ("The on-call rota is owned by the platform team", {}),
}
OURS_SCOPED = {
    "a_ours": ("Agent A pages the on-call engineer through the rota bot", "agent-a"),
    "b_ours": ("Agent B pages the on-call engineer by phone", "agent-b"),
}


def run_agent_ops(db: Path, ops: list[dict[str, Any]], work: Path) -> list[Any]:
    result: list[Any] = run_driver(AGENT_DRIVER, {"db": str(db), "ops": ops}, work, version=VERSION)
    return result


def test_database_created_by_124_opens_in_place(tmp_path: Path) -> None:
    db = tmp_path / "sqlite_vec.db"
    first = mms_round(VERSION, db, tmp_path, store=True)
    assert first[0]["embedding_model"] == "SentenceTransformer"
    assert [r["ok"] for r in first[1:3]] == [True, True]
    schema_before = sqlite_master(db)
    ours = trio.run(memhub_round, db, [c for c, _ in THEIRS])
    assert sqlite_master(db) == schema_before
    conn = schema_mod.connect(db, readonly=True, pragmas={})
    found = schema_mod.inspect(conn, db)
    conn.close()
    assert found is not None
    assert found.generation == "v12"
    after = mms_round(VERSION, db, tmp_path, store=False)
    assert after[1][0]["content_hash"] == ours[0]
    assert after[2][0]["content_hash"] == ours[1]
    assert set(ours) <= {r["content_hash"] for r in after[3]}
    assert_consistent(db)


def test_database_created_by_memhub_is_usable_by_124(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "sqlite_vec.db"
    monkeypatch.setenv("MEMHUB_NEW_SCHEMA", "v12")
    ours = trio.run(memhub_round, db, [])
    result = mms_round(VERSION, db, tmp_path, store=True)
    assert [r["ok"] for r in result[1:3]] == [True, True]
    assert result[3][0]["content_hash"] == ours[0]
    assert result[4][0]["content_hash"] == ours[1]
    trio.run(memhub_round_readonly, db)
    assert_consistent(db)


async def memhub_agent_round(db: Path) -> dict[str, Any]:
    """Store OURS_SCOPED and read both sides' rows scoped to agent A."""
    out: dict[str, Any] = {}
    async with daemon_process(db, {"MEMHUB_EMBEDDER": "model"}) as (_, info):
        async with open_daemon_client(f"ws://{info.host}:{info.port}", info.token) as client:
            for content, agent in OURS_SCOPED.values():
                reply = await client.call(
                    m.Store(id=0, content=content, metadata={"agent_id": agent})
                )
                assert isinstance(reply, m.Stored)
            page = await client.call(m.ListMemories(id=0, page_size=100, agent_id="agent-a"))
            assert isinstance(page, m.Page)
            out["list_a"] = sorted(r.content for r in page.memories)
            # A scoped top-1 search over rows of every agent, most of them closer to the query.
            found = await client.call(
                m.Search(id=0, query="who owns the on-call rota", limit=1, agent_id="agent-a")
            )
            assert isinstance(found, m.SearchResult)
            out["search_a_top1"] = [h.memory.content for h in found.hits]
            found = await client.call(
                m.Search(id=0, query="on-call rota", limit=10, agent_id="agent-b")
            )
            assert isinstance(found, m.SearchResult)
            out["search_b"] = sorted(h.memory.content for h in found.hits)
    return out


def test_agent_scoped_rows_both_ways_on_one_file(tmp_path: Path) -> None:
    db = tmp_path / "sqlite_vec.db"
    stores = [
        {"op": "store", "content": content, **fields} for content, fields in THEIRS_SCOPED.values()
    ]
    written = run_agent_ops(db, [*stores, {"op": "list", "agent_id": "agent-a"}], tmp_path)
    assert [r["success"] for r in written[:4]] == [True] * 4
    a_theirs = sorted([THEIRS_SCOPED["a_meta"][0], THEIRS_SCOPED["a_tag"][0]])
    assert written[4] == a_theirs  # 12.4's own scoping, for reference

    ours = trio.run(memhub_agent_round, db)
    a_all = sorted([*a_theirs, OURS_SCOPED["a_ours"][0]])
    b_all = sorted([THEIRS_SCOPED["b_meta"][0], OURS_SCOPED["b_ours"][0]])
    assert ours["list_a"] == a_all
    assert len(ours["search_a_top1"]) == 1
    assert ours["search_a_top1"][0] in a_all
    assert ours["search_b"] == b_all

    read_back = run_agent_ops(
        db,
        [
            {"op": "list", "agent_id": "agent-a"},
            {"op": "list", "agent_id": "agent-b"},
            {"op": "search", "query": "on-call rota", "agent_id": "agent-a", "limit": 10},
        ],
        tmp_path,
    )
    assert read_back[0] == a_all
    assert read_back[1] == b_all
    assert sorted(read_back[2]) == a_all
    assert_consistent(db)


def test_v12_tool_list_is_124s_own_registry(tmp_path: Path) -> None:
    from memhub.mcp_bridge import schemas
    from memhub.mcp_bridge.v12_tools import catalog

    python = ensure_mms_venv(VERSION)
    dump = (
        "import json; from mcp_memory_service.tools.registry import TOOL_REGISTRY; "
        "print(json.dumps([[t.name, t.description, t.input_schema] for t in TOOL_REGISTRY]))"
    )
    done = subprocess.run(
        [str(python), "-c", dump],
        env=mms_env(python, tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    registry = json.loads(done.stdout.strip().splitlines()[-1])
    assert [name for name, _, _ in registry] == catalog.names()
    for name, description, schema in registry:
        assert schemas.input_schema(name, {"MEMHUB_TOOL_SCHEMAS": "v12"}) == schema, name
        assert catalog.input_schema(name) == schema, name
        assert next(t for t in catalog.tools() if t["name"] == name)["description"] == description
