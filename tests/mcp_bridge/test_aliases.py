from typing import Any

import pytest

from memhub.mcp_bridge import aliases
from memhub.mcp_bridge.arguments import ArgumentError

# MMS v10.59 compat.py: every deprecated name, with a sample call and the expected rewrite.
CASES = [
    ("delete_memory", {"content_hash": "h"}, "memory_delete", {"content_hash": "h"}),
    ("delete_by_tag", {"tag": "x"}, "memory_delete", {"tags": ["x"], "tag_match": "any"}),
    (
        "delete_by_tags",
        {"tags": ["x", "y"]},
        "memory_delete",
        {"tags": ["x", "y"], "tag_match": "any"},
    ),
    ("delete_by_all_tags", {"tags": "x,y"}, "memory_delete", {"tags": "x,y", "tag_match": "all"}),
    (
        "delete_by_timeframe",
        {"start_date": "2024-01-01", "end_date": "2024-01-31", "tag": "t"},
        "memory_delete",
        {"after": "2024-01-01", "before": "2024-01-31", "tags": ["t"]},
    ),
    (
        "delete_before_date",
        {"before_date": "2024-01-01"},
        "memory_delete",
        {"before": "2024-01-01"},
    ),
    (
        "retrieve_memory",
        {"query": "q"},
        "memory_search",
        {"query": "q", "limit": 5, "mode": "semantic"},
    ),
    (
        "recall_memory",
        {"query": "last week", "n_results": 3},
        "memory_search",
        {"query": "last week", "time_expr": "last week", "limit": 3, "mode": "semantic"},
    ),
    (
        "recall_by_timeframe",
        {"start_date": "2024-01-01", "max_response_chars": 900},
        "memory_search",
        {"after": "2024-01-01", "limit": 5, "max_response_chars": 900},
    ),
    (
        "retrieve_with_quality_boost",
        {"query": "q"},
        "memory_search",
        {"query": "q", "quality_boost": 0.3, "limit": 10, "mode": "hybrid"},
    ),
    ("exact_match_retrieve", {"content": "c"}, "memory_search", {"query": "c", "mode": "exact"}),
    (
        "debug_retrieve",
        {"query": "q", "n_results": 2},
        "memory_search",
        {"query": "q", "limit": 2, "include_debug": True},
    ),
    (
        "consolidate_memories",
        {"time_horizon": "weekly"},
        "memory_consolidate",
        {"action": "run", "time_horizon": "weekly"},
    ),
    ("consolidation_status", {}, "memory_consolidate", {"action": "status"}),
    (
        "consolidation_recommendations",
        {"time_horizon": "daily"},
        "memory_consolidate",
        {"action": "recommend", "time_horizon": "daily"},
    ),
    ("scheduler_status", {}, "memory_consolidate", {"action": "scheduler"}),
    (
        "trigger_consolidation",
        {"time_horizon": "monthly"},
        "memory_consolidate",
        {"action": "run", "time_horizon": "monthly", "immediate": True},
    ),
    ("pause_consolidation", {}, "memory_consolidate", {"action": "pause"}),
    ("resume_consolidation", {}, "memory_consolidate", {"action": "resume"}),
    ("store_memory", {"content": "c"}, "memory_store", {"content": "c"}),
    ("check_database_health", {}, "memory_health", {}),
    ("get_cache_stats", {}, "memory_stats", {}),
    ("cleanup_duplicates", {}, "memory_cleanup", {}),
    (
        "update_memory_metadata",
        {"content_hash": "h", "updates": {"tags": ["a"]}},
        "memory_update",
        {"content_hash": "h", "updates": {"tags": ["a"]}},
    ),
    ("list_memories", {"page": 2}, "memory_list", {"page": 2}),
    ("search_by_tag", {"tags": ["a"]}, "memory_list", {"tags": ["a"]}),
    (
        "ingest_document",
        {"file_path": "/d.md"},
        "memory_ingest",
        {
            "file_path": "/d.md",
            "tags": [],
            "chunk_size": 1000,
            "chunk_overlap": 200,
            "memory_type": "document",
        },
    ),
    (
        "ingest_directory",
        {"directory_path": "/docs"},
        "memory_ingest",
        {
            "directory_path": "/docs",
            "tags": [],
            "recursive": True,
            "file_extensions": ["pdf", "txt", "md", "json"],
            "chunk_size": 1000,
            "max_files": 100,
        },
    ),
    (
        "rate_memory",
        {"content_hash": "h", "rating": 1},
        "memory_quality",
        {"action": "rate", "content_hash": "h", "rating": 1, "feedback": ""},
    ),
    (
        "get_memory_quality",
        {"content_hash": "h"},
        "memory_quality",
        {"action": "get", "content_hash": "h"},
    ),
    (
        "analyze_quality_distribution",
        {},
        "memory_quality",
        {"action": "analyze", "min_quality": 0.0, "max_quality": 1.0},
    ),
    (
        "find_connected_memories",
        {"hash": "h"},
        "memory_graph",
        {"action": "connected", "hash": "h", "max_hops": 2},
    ),
    (
        "find_shortest_path",
        {"hash1": "a", "hash2": "b"},
        "memory_graph",
        {"action": "path", "hash1": "a", "hash2": "b", "max_depth": 5},
    ),
    (
        "get_memory_subgraph",
        {"hash": "h"},
        "memory_graph",
        {"action": "subgraph", "hash": "h", "radius": 2},
    ),
]


def test_all_34_mms_aliases_are_known() -> None:
    assert len(aliases.ALIASES) == 34
    assert {c[0] for c in CASES} == set(aliases.ALIASES)


@pytest.mark.parametrize(("old", "args", "new", "expected"), CASES, ids=[c[0] for c in CASES])
def test_alias_mapping(old: Any, args: Any, new: Any, expected: Any) -> None:
    assert aliases.resolve(old, args) == (new, expected)


def test_new_names_pass_through_unchanged() -> None:
    assert aliases.resolve("memory_search", {"query": "q"}) == ("memory_search", {"query": "q"})


def test_delete_by_tag_accepts_its_v9_schema_key_tags() -> None:
    # Fixed: MMS reads a["tag"] although the v9 schema asked for "tags".
    assert aliases.resolve("delete_by_tag", {"tags": ["x"]}) == (
        "memory_delete",
        {"tags": ["x"], "tag_match": "any"},
    )
    assert aliases.resolve("delete_by_tags", {"tag": "x"})[1]["tags"] == ["x"]


def test_ingest_aliases_accept_path_and_map_to_handler_keys() -> None:
    # Fixed: MMS maps to path/mode, but its handler reads file_path/directory_path.
    assert aliases.resolve("ingest_document", {"path": "/a"})[1]["file_path"] == "/a"
    assert aliases.resolve("ingest_directory", {"path": "/d"})[1]["directory_path"] == "/d"


@pytest.mark.parametrize(
    ("old", "key"),
    [
        ("delete_memory", "content_hash"),
        ("delete_by_tag", "tags"),
        ("retrieve_memory", "query"),
        ("exact_match_retrieve", "content"),
        ("delete_before_date", "before_date"),
        ("recall_by_timeframe", "start_date"),
    ],
)
def test_missing_required_argument_names_it(old: Any, key: Any) -> None:
    with pytest.raises(ArgumentError) as info:
        aliases.resolve(old, {})
    assert str(info.value) == f"{old} requires the argument '{key}'"


@pytest.mark.parametrize(
    "name",
    [
        "get_raw_embedding",
        "memory_rate",
    ],
)
def test_out_of_scope_tools_are_not_supported(name: Any) -> None:
    text = aliases.unsupported_message(name, name)
    assert text is not None
    assert text.startswith(f"Error: {name} is not supported by memhub")


def test_ingest_and_harvest_are_served_now() -> None:
    assert aliases.unsupported_message("memory_ingest", "memory_ingest") is None
    assert aliases.unsupported_message("memory_harvest", "memory_harvest") is None
    assert aliases.unsupported_message("ingest_document", "memory_ingest") is None


def test_unsupported_alias_names_both() -> None:
    text = aliases.unsupported_message("old_name", "memory_rate")
    assert text is not None
    assert text.startswith("Error: old_name (now memory_rate) is not supported by memhub")
    assert aliases.unsupported_message("consolidate_memories", "memory_consolidate") is None
    assert aliases.unsupported_message("rate_memory", "memory_quality") is None
    assert aliases.unsupported_message("store_memory", "memory_store") is None
