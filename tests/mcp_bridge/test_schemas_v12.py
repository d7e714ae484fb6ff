"""``MEMHUB_TOOL_SCHEMAS``: 10.59's schemas by default, 12.4's added properties on request."""

import jsonschema

from memhub.mcp_bridge import schemas, schemas_v12

V12 = {"MEMHUB_TOOL_SCHEMAS": "v12"}


def test_default_is_the_10_59_schema_object_itself() -> None:
    for spec in schemas.TOOLS:
        assert schemas.input_schema(spec.name, {}) is spec.input_schema


def test_v12_adds_12x_properties_and_keeps_every_10_59_one() -> None:
    for spec in schemas.TOOLS:
        extended = schemas.input_schema(spec.name, V12)
        old = spec.input_schema.get("properties", {})
        for key, value in old.items():
            if not (spec.name == "memory_search" and key == "mode"):
                assert extended["properties"][key] == value, (spec.name, key)
        assert extended.get("required") == spec.input_schema.get("required")
    for name in ("memory_store", "memory_store_session", "memory_search", "memory_list"):
        assert "agent_id" in schemas.input_schema(name, V12)["properties"]
        assert "store" in schemas.input_schema(name, V12)["properties"]
    search = schemas.input_schema("memory_search", V12)
    assert search["properties"]["mode"]["enum"] == ["semantic", "exact", "hybrid", "ranked"]
    assert {"rerank", "summarize"} <= set(search["properties"])
    # the shared 10.59 object is not modified
    assert "agent_id" not in schemas.TOOLS_BY_NAME["memory_search"].input_schema["properties"]
    assert schemas_v12.SEARCH_MODES[-1] == "ranked"


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
