import json
from pathlib import Path
from typing import Any

import pytest

from memhub.mcp_bridge import schemas
from memhub.mcp_bridge.tools import CORE_TOOLS

ADVERTISED = [
    "memory_store",
    "memory_store_session",
    "memory_search",
    "memory_list",
    "memory_delete",
    "memory_cleanup",
    "memory_health",
    "memory_stats",
    "memory_update",
]

# (title, readOnlyHint, destructiveHint, required) per MMS v10.59 handle_list_tools
EXPECTED = {
    "memory_store": ("Store Memory", None, False, ["content"]),
    "memory_store_session": ("Store Session", None, False, ["turns"]),
    "memory_search": ("Search Memories (Unified)", True, None, None),
    "memory_list": ("List Memories", True, None, None),
    "memory_delete": ("Delete Memories (Unified)", None, True, None),
    "memory_cleanup": ("Cleanup Duplicates", None, True, None),
    "memory_health": ("Check Database Health", True, None, None),
    "memory_stats": ("Get Cache Stats", True, None, None),
    "memory_update": ("Update Memory Metadata", None, True, ["content_hash", "updates"]),
}


def test_names_and_order_are_mms() -> None:
    assert [t.name for t in schemas.TOOLS] == ADVERTISED


def test_every_advertised_tool_has_a_handler_and_no_handler_is_unadvertised() -> None:
    assert set(CORE_TOOLS) == set(ADVERTISED)


@pytest.mark.parametrize("name", ADVERTISED)
def test_annotations_and_required(name: Any) -> None:
    title, read_only, destructive, required = EXPECTED[name]
    tool = schemas.TOOLS_BY_NAME[name]
    annotations = tool.annotations()
    assert annotations["title"] == title
    assert annotations.get("readOnlyHint") == read_only
    assert annotations.get("destructiveHint") == destructive
    assert tool.input_schema.get("required") == required
    assert tool.input_schema["type"] == "object"


def test_search_schema_details() -> None:
    props = schemas.TOOLS_BY_NAME["memory_search"].input_schema["properties"]
    assert props["mode"]["enum"] == ["semantic", "exact", "hybrid"]
    assert props["limit"] == {
        "type": "integer",
        "default": 10,
        "minimum": 1,
        "maximum": 100,
        "description": "Maximum results to return",
    }
    assert [v["type"] for v in props["tags"]["oneOf"]] == ["array", "string"]
    assert set(props) >= {"query", "time_expr", "after", "before", "max_response_chars", "fallback"}


def test_store_takes_tags_in_metadata() -> None:
    props = schemas.TOOLS_BY_NAME["memory_store"].input_schema["properties"]
    assert set(props) == {"content", "conversation_id", "metadata"}
    assert set(props["metadata"]["properties"]) == {"tags", "type"}


def test_sdk_objects_serialize_with_mms_field_names() -> None:
    tools = schemas.mcp_tools()
    wire = tools[0].model_dump(by_alias=True, exclude_none=True)
    assert wire["name"] == "memory_store"
    assert wire["annotations"] == {"title": "Store Memory", "destructiveHint": False}
    assert wire["inputSchema"]["required"] == ["content"]
    assert wire["description"].startswith("Store new information with optional tags.")


GOLDEN = Path(__file__).with_name("golden") / "mms-10.59.0-tools.json"
"""mcp-memory-service 10.59.0's tool list, written by ``tests/compat/dump_mms_tools.py``."""


def _upstream_tools() -> dict[str, dict[str, object]]:
    document = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert document["release"] == "10.59.0"
    return {tool["name"]: tool for tool in document["tools"]}


def test_golden_file_lists_every_advertised_tool_in_order() -> None:
    names = [name for name in _upstream_tools() if name in ADVERTISED]
    assert names == ADVERTISED


@pytest.mark.parametrize("name", ADVERTISED)
def test_byte_identical_to_upstream(name: Any) -> None:
    upstream = _upstream_tools()[name]
    tool = schemas.TOOLS_BY_NAME[name]
    assert tool.description == upstream["description"]
    assert tool.input_schema == upstream["inputSchema"]
    assert tool.annotations() == upstream["annotations"]
