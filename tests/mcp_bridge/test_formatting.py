import json

from memhub.domain.ontology import type_coerced_warning
from memhub.mcp_bridge import formatting as f

from .fakes import H1, H2, health_report, hit, record


def test_stored_text_carries_the_hash() -> None:
    assert f.stored(H1) == f"Memory stored successfully (hash: {H1})"


def test_type_coercion_warning_is_mms_text() -> None:
    # Built by the domain (the daemon sends it, the bridge prints it after a newline).
    assert type_coerced_warning("fact", "observation") == (
        "Warning: requested memory_type 'fact' is not in the ontology — stored as "
        "'observation'. Register custom types via the MCP_CUSTOM_MEMORY_TYPES env var, "
        "e.g. '{\"fact\": []}'."
    )


def test_session_texts() -> None:
    assert f.session_stored("s1", [H1], 2) == (
        f"Session stored successfully (session_id: s1, hash: {H1}, turns: 2)"
    )
    assert f.session_stored("s1", [H1, H2], 5) == (
        "Session stored successfully (session_id: s1, chunks: 2/2, turns: 5)"
    )


def test_search_results_block_format() -> None:
    hits = [
        hit(record("first memory", H1, tags=["a", "b"])),
        hit(record("second", H2)),
    ]
    text = f.search_results(hits, mode="semantic", query="q")
    assert text == (
        "Found 2 memories (mode: semantic) for query: 'q'\n\n"
        "1. first memory\n"
        f"   Hash: {H1}\n"
        "   Created: 2023-11-14T22:13:20.500000Z [a, b]\n\n"
        "2. second\n"
        f"   Hash: {H2}\n"
        "   Created: 2023-11-14T22:13:20.500000Z"
    )


def test_search_header_without_query_omits_it() -> None:
    text = f.search_results([hit(record())], mode="semantic", query=None)
    assert text.splitlines()[0] == "Found 1 memories (mode: semantic)"


def test_no_results_texts() -> None:
    assert (
        f.search_results([], mode="semantic", query="zzz") == "No memories found for query: 'zzz'"
    )
    assert f.search_results([], mode="semantic", query=None) == "No memories found"


def test_search_debug_block() -> None:
    debug = {"returned": 1, "time_range": [10.0, 20.0]}
    text = f.search_results(
        [hit(record())], mode="semantic", query="q", debug=debug, time_expr="yesterday"
    )
    assert text.startswith(
        "Found 1 memories (mode: semantic) for query: 'q'\n\n"
        "Debug Info:\n"
        "  Pre-filter count: N/A\n"
        "  Post-filter count: 1\n"
        "  Time expression: yesterday\n"
        "  Time range: 10.0 - 20.0\n\n"
        "1. hello"
    )


def test_search_fallback_marks() -> None:
    text = f.search_results(
        [hit(record("x", H1)), hit(record("y", H2))],
        mode="semantic",
        query="q",
        match_methods={H1: "semantic", H2: "exact_fallback"},
    )
    assert (
        text.splitlines()[0]
        == "Found 2 memories (mode: semantic) [fallback: exact+tag] for query: 'q'"
    )
    assert "   Created: 2023-11-14T22:13:20.500000Z (via exact_fallback)" in text


def test_truncated_search_uses_memory_blocks() -> None:
    hits = [hit(record("a" * 100, H1, tags=["t"])), hit(record("b" * 100, H2))]
    text = f.search_results(hits, mode="semantic", query="q", max_chars=350)
    assert text == (
        "Found 2 memories (mode: semantic) for query: 'q'\n\n"
        "[!] RESPONSE TRUNCATED: Showing 1 of 2 results (300 of 600 chars).\n"
        "1 result(s) omitted to prevent context overflow.\n"
        "Use specific queries or hash-based retrieval for full content.\n"
        "\n"  # MMS joins [warning ending in a newline, "", block] with newlines
        "\n"
        "=== Memory 1 ===\n"
        "Timestamp: 2023-11-14T22:13:20.500000Z\n"
        f"Content: {'a' * 100}\n"
        f"Hash: {H1}\n"
        "Tags: t\n"
        "---"
    )


def test_truncation_under_budget_shows_all_without_warning() -> None:
    hits = [hit(record("x", H1)), hit(record("y", H2))]
    text = f.search_results(hits, mode="exact", query="q", max_chars=10_000)
    assert "RESPONSE TRUNCATED" not in text
    assert "=== Memory 2 ===" in text


def test_truncation_always_shows_the_first_memory() -> None:
    text = f.truncated_memories([{"content": "z" * 5000, "content_hash": H1}], 10)
    assert "=== Memory 1 ===" in text
    assert "Showing 1 of 1 results (5,200 of 5,200 chars)" in text


def test_memory_page_json_matches_mms_keys() -> None:
    import attrs

    from memhub.protocol import messages as m

    page = m.Page(
        id=1,
        memories=[record("héllo", H1, tags=["x"], metadata={"k": 1})],
        page=1,
        page_size=20,
        total=1,
        total_pages=1,
        has_more=False,
    )
    text = f.memory_page(page)
    data = json.loads(text)
    assert list(data) == ["memories", "page", "page_size", "total", "total_pages", "has_more"]
    assert list(data["memories"][0]) == [
        "content",
        "content_hash",
        "tags",
        "memory_type",
        "metadata",
        "created_at",
        "updated_at",
        "created_at_iso",
        "updated_at_iso",
        "agent_id",  # 12.x's top-level author (null when none)
    ]
    assert data["memories"][0]["agent_id"] is None
    assert "h\\u00e9llo" in text  # json.dumps default: ASCII-escaped, as MMS
    assert text.startswith('{\n  "memories": [\n    {\n      "content"')
    assert attrs.has(type(page))


def test_delete_texts() -> None:
    assert f.deleted_by_hash(H1) == f"Successfully deleted memory {H1}\n\nDeleted 1 memories"
    assert f.would_delete_hash(H1) == (
        f"Would delete 1 memory with hash: {H1}\n\nWould delete 1 memories\nHashes: {H1}"
    )
    assert f.deleted_by_filter([H1, H2], tags_only_any=True, tag_count=1) == (
        "Successfully deleted 2 memories matching 1 tag(s)\n\nDeleted 2 memories"
    )
    assert f.deleted_by_filter([H1], tags_only_any=False, tag_count=0) == (
        "Successfully deleted 1 memories\n\nDeleted 1 memories"
    )


def test_dry_run_lists_five_hashes_then_counts_the_rest() -> None:
    hashes = [str(i) * 64 for i in range(7)]
    text = f.would_delete(hashes)
    assert text == (
        "Would delete 7 memories\n\nWould delete 7 memories\n"
        f"Hashes: {', '.join(hashes[:5])} ... and 2 more"
    )
    assert f.would_delete([]) == "Would delete 0 memories\n\nWould delete 0 memories"


def test_update_and_cleanup_texts() -> None:
    assert f.updated(["tags", "custom_metadata", "updated_at"]) == (
        "Successfully updated memory metadata. Updated fields: tags, custom_metadata, updated_at"
    )
    assert f.cleaned_up([]) == "No duplicate memories found"
    assert f.cleaned_up([H1, H2]) == "Successfully soft-deleted 2 duplicate memories"


def test_health_has_mms_structure() -> None:
    text = f.health(health_report())
    head, _, body = text.partition("\n")
    assert head == "Database Health Check Results:"
    data = json.loads(body)
    assert list(data)[:5] == ["version", "validation", "statistics", "integrity", "performance"]
    assert data["validation"] == {
        "status": "healthy",
        "message": "SQLite-vec database validation successful",
    }
    stats = data["statistics"]
    assert stats["backend"] == "sqlite-vec"
    assert stats["total_memories"] == 7
    assert stats["database_size_mb"] == 3.0
    assert stats["embedding_model"] == "sentence-transformers:all-MiniLM-L6-v2"
    assert data["performance"]["server"]["total_queries"] == 10
    assert data["memhub"]["daemon_pid"] == 4242


def test_unhealthy_report_keeps_the_daemon_message() -> None:
    data = json.loads(
        f.health(health_report(status="unhealthy", message="disk I/O error")).split("\n", 1)[1]
    )
    assert data["validation"] == {"status": "unhealthy", "message": "disk I/O error"}


def test_stats_has_mms_keys() -> None:
    data = json.loads(
        f.stats(
            health_report(),
            tool_calls=4,
            connects=1,
            connect_times_ms=[12.5],
            embedding_model="all-MiniLM-L6-v2",
        )
    )
    assert list(data) == [
        "total_calls",
        "hit_rate",
        "storage_cache",
        "service_cache",
        "performance",
        "message",
        "backend_info",
    ]
    assert data["storage_cache"]["hits"] == 3
    assert data["storage_cache"]["hit_rate"] == 75.0
    assert data["service_cache"] == {"hits": 6, "misses": 2, "hit_rate": 75.0, "size": 1}
    assert data["performance"]["avg_init_time_ms"] == 12.5
    assert data["message"] == "MCP server caching is ACTIVE with 75.0% hit rate"
    assert data["backend_info"]["storage_backend"] == "sqlite_vec"


def test_legacy_memory_dict_has_mms_to_dict_keys() -> None:
    d = f.legacy_memory_dict(record(tags=["a", "b"], metadata={"extra": 1}))
    assert d["tags_str"] == "a,b"
    assert d["type"] == "note"
    assert d["extra"] == 1
    assert d["tags"] == ["a", "b"]
    assert d["timestamp"] == d["created_at"]


def _shape(value: object) -> object:
    """The keys of nested objects, without the values."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    return None


def test_the_starting_health_answer_has_every_key_of_the_full_one() -> None:
    # A client that reads memhub.daemon_pid or statistics.total_memories must find the key
    # while the daemon still loads its model (it got KeyError: 'memhub').
    full = json.loads(f.health(health_report()).split("\n", 1)[1])
    starting = json.loads(f.starting_health("0.1.0", "/data/m.db").split("\n", 1)[1])
    assert _shape(starting) == _shape(full)
    assert starting["statistics"]["status"] == "starting"
    assert starting["validation"]["status"] == "unhealthy"
    assert starting["memhub"]["state"] == "starting"
    assert full["memhub"]["state"] == "serving"
    assert starting["memhub"]["daemon_pid"] is None
    assert starting["memhub"]["store"] == "/data/m.db"
