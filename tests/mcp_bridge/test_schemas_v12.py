"""``MEMHUB_TOOL_SCHEMAS``: 10.59's nine tools by default, 12.4's list of 28 exactly on request."""

import json
from pathlib import Path
from typing import Any

import jsonschema

from memhub.mcp_bridge import schemas
from memhub.mcp_bridge.v12_tools import catalog

V12 = {"MEMHUB_TOOL_SCHEMAS": "v12"}
GOLDEN = Path(__file__).with_name("golden") / "mms-12.4.0-tools.json"


def golden_tools() -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = json.loads(GOLDEN.read_text(encoding="utf-8"))["tools"]
    return tools


def test_default_is_the_10_59_schema_object_itself() -> None:
    for spec in schemas.TOOLS:
        assert schemas.input_schema(spec.name, {}) is spec.input_schema


def test_v12_advertises_124s_28_tools_exactly(monkeypatch) -> None:
    monkeypatch.setenv("MEMHUB_TOOL_SCHEMAS", "v12")
    listed = [
        t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in schemas.mcp_tools()
    ]
    golden = golden_tools()
    assert len(listed) == 28
    assert [t["name"] for t in listed] == [t["name"] for t in golden]
    for ours, theirs in zip(listed, golden, strict=True):
        assert ours["inputSchema"] == theirs["inputSchema"], ours["name"]
        assert ours["description"] == theirs["description"], ours["name"]
        assert ours.get("annotations", {}) == theirs["annotations"], ours["name"]
        assert schemas.input_schema(ours["name"], V12) == theirs["inputSchema"]


def test_v10_lists_only_the_nine(monkeypatch) -> None:
    monkeypatch.delenv("MEMHUB_TOOL_SCHEMAS", raising=False)
    assert [t.name for t in schemas.mcp_tools()] == [t.name for t in schemas.TOOLS]


def test_remote_listing_drops_the_local_only_tools_as_124_does() -> None:
    names = [t.name for t in catalog.mcp_tools(remote=True)]
    assert len(names) == 26
    assert "memory_ingest" not in names
    assert "memory_harvest" not in names


def test_the_packaged_catalog_cannot_be_altered_by_a_caller() -> None:
    first = catalog.tools()
    first[0]["inputSchema"]["properties"].clear()
    assert catalog.tools()[0]["inputSchema"]["properties"]


def test_both_generations_arguments_validate_under_both_schemas() -> None:
    calls = {
        "memory_store": {"content": "x", "metadata": {"tags": "a,b"}, "agent_id": "a"},
        "memory_search": {"query": "q", "mode": "hybrid", "store": "default", "rerank": True},
        "memory_list": {"page": 1, "agent_id": "a"},
    }
    for name, args in calls.items():
        jsonschema.validate(args, schemas.input_schema(name, {}))
        jsonschema.validate(args, schemas.input_schema(name, V12))
    ranked = {"query": "q", "mode": "ranked"}
    jsonschema.validate(ranked, schemas.input_schema("memory_search", V12))
