"""Tool dispatch against a scripted daemon: requests sent, texts returned, error flags."""

import json
from typing import Any

import pytest

from memhub.domain.ontology import canonical_memory_type
from memhub.errors import BadRequest, Duplicate, NotFound, Unavailable
from memhub.mcp_bridge.calls import Delivery
from memhub.mcp_bridge.tools import call_tool
from memhub.protocol import messages as m

from .fakes import H1, H2, FakeDaemon, health_report, hit, record


def stored(hash_: str = H1, memory_type: str = "note", warning: str | None = None) -> m.Stored:
    return m.Stored(
        id=1, content_hash=hash_, memory_type=memory_type, created_at=1.0, warning=warning
    )


async def test_store_sends_tags_from_metadata_and_top_level() -> None:
    daemon = FakeDaemon(stored(memory_type="decision"))
    result = await call_tool(
        daemon,
        "memory_store",
        {"content": "c", "tags": ["top"], "metadata": {"tags": "a,b", "type": "decision", "k": 1}},
    )
    assert result.text == f"Memory stored successfully (hash: {H1})"
    assert not result.is_error
    request = daemon.last
    assert isinstance(request, m.Store)
    assert request.tags == ["top", "a", "b"]
    assert request.memory_type == "decision"
    assert request.metadata == {"k": 1}


async def test_store_without_content_is_the_sdks_validation_error() -> None:
    # Both upstream generations' SDK validates the schema first and flags the answer.
    result = await call_tool(FakeDaemon(), "memory_store", {"metadata": {}})
    assert result.text == "Input validation error: 'content' is a required property"
    assert result.is_error


async def test_store_with_empty_content_is_an_ordinary_answer() -> None:
    result = await call_tool(FakeDaemon(), "memory_store", {"content": ""})
    assert result.text == "Error: Content is required"
    assert not result.is_error


async def test_store_reports_type_coercion_like_mms() -> None:
    # The daemon words the warning (domain.ontology); the bridge prints it on its own line.
    warning = canonical_memory_type("fact")[1]
    daemon = FakeDaemon(stored(memory_type="observation", warning=warning))
    result = await call_tool(daemon, "memory_store", {"content": "c", "metadata": {"type": "fact"}})
    assert result.text == (
        f"Memory stored successfully (hash: {H1})\nWarning: requested memory_type 'fact' is not "
        "in the ontology — stored as 'observation'. Register custom types via the "
        "MCP_CUSTOM_MEMORY_TYPES env var, e.g. '{\"fact\": []}'."
    )


async def test_store_passes_on_a_daemon_warning_once() -> None:
    daemon = FakeDaemon(stored(memory_type="note", warning="Warning: something odd"))
    result = await call_tool(daemon, "memory_store", {"content": "c"})
    assert result.text == f"Memory stored successfully (hash: {H1})\nWarning: something odd"


async def test_store_duplicate_is_an_ordinary_answer() -> None:
    daemon = FakeDaemon(Duplicate("Duplicate content detected (exact match)"))
    result = await call_tool(daemon, "store_memory", {"content": "c"})
    assert result.text == "Error storing memory: Duplicate content detected (exact match)"
    assert not result.is_error


async def test_store_conversation_and_hostname() -> None:
    daemon = FakeDaemon(stored())
    await call_tool(
        daemon,
        "memory_store",
        {"content": "c", "conversation_id": "conv", "client_hostname": "box"},
    )
    request = daemon.last
    assert isinstance(request, m.Store)
    assert request.conversation_id == "conv"
    assert request.tags == ["source:box"]
    assert request.metadata == {"hostname": "box"}


async def test_unavailable_daemon_is_an_error_with_the_tool_prefix() -> None:
    daemon = FakeDaemon(Unavailable("memhub could not reach the daemon for the database /x: y"))
    result = await call_tool(daemon, "memory_search", {"query": "q"})
    assert result.is_error
    assert result.text.startswith("Error searching memories: memhub could not reach the daemon")


async def test_session_chooses_the_id_and_skips_empty_turns() -> None:
    def answer(req: m.Request) -> m.Reply:
        assert isinstance(req, m.StoreSession)
        assert req.session_id is not None
        return m.SessionStored(id=1, session_id=req.session_id, content_hashes=[H1], turns=2)

    daemon = FakeDaemon(answer)
    result = await call_tool(
        daemon,
        "memory_store_session",
        {
            "turns": [
                {"role": "user", "content": " hi "},
                {"role": "assistant", "content": ""},
                {"role": "assistant", "content": "yo"},
            ],
            "tags": "x",
        },
    )
    request = daemon.last
    assert isinstance(request, m.StoreSession)
    assert request.session_id
    assert [(t.role, t.content) for t in request.turns] == [("user", "hi"), ("assistant", "yo")]
    assert request.tags == ["x"]
    assert (
        result.text
        == f"Session stored successfully (session_id: {request.session_id}, hash: {H1}, turns: 2)"
    )


async def test_session_errors() -> None:
    missing = await call_tool(FakeDaemon(), "memory_store_session", {})
    assert missing.text == "Input validation error: 'turns' is a required property"
    assert missing.is_error
    assert (await call_tool(FakeDaemon(), "memory_store_session", {"turns": []})).text == (
        "Input validation error: [] should be non-empty"
    )
    result = await call_tool(
        FakeDaemon(), "memory_store_session", {"turns": [{"role": "u", "content": " "}]}
    )
    assert result.text == "Error: all turns have empty content"
    assert not result.is_error


async def test_search_request_and_text() -> None:
    result_reply = m.SearchResult(
        id=1, mode="semantic", query="cats", hits=[hit(record("cats purr"))]
    )
    daemon = FakeDaemon(result_reply)
    result = await call_tool(
        daemon,
        "memory_search",
        {
            "query": "cats",
            "tags": "Pets,x",
            "tag_match": "all",
            "limit": "3",
            "after": "2024-01-01",
        },
    )
    request = daemon.last
    assert isinstance(request, m.Search)
    assert request.tags == ["pets", "x"]
    assert request.tag_match == "all"
    assert request.limit == 3
    assert request.after is not None
    assert result.text.startswith(
        "Found 1 memories (mode: semantic) for query: 'cats'\n\n1. cats purr"
    )


async def test_search_time_expr_wins_over_dates() -> None:
    daemon = FakeDaemon(m.SearchResult(id=1, mode="semantic", query=None, hits=[]))
    result = await call_tool(
        daemon, "memory_search", {"time_expr": "yesterday", "after": "garbage"}
    )
    request = daemon.last
    assert isinstance(request, m.Search)
    assert request.time_expr == "yesterday"
    assert request.after is None
    assert result.text == "No memories found"
    assert not result.is_error


@pytest.mark.parametrize(
    ("args", "text"),
    [
        ({}, "Error: At least one filter required (query, time_expr, after, before, or tags)"),
        ({"mode": "exact"}, "Error: query required for exact mode"),
        ({"after": "soon"}, "Error: Invalid after date format: soon. Use YYYY-MM-DD"),
    ],
)
async def test_search_refusals_are_ordinary_answers(args: Any, text: Any) -> None:
    result = await call_tool(FakeDaemon(), "memory_search", args)
    assert result.text == text
    assert not result.is_error


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (
            {"query": "q", "mode": "fuzzy"},
            "Input validation error: 'fuzzy' is not one of ['semantic', 'exact', 'hybrid']",
        ),
        (
            {"query": "q", "quality_boost": 2},
            "Input validation error: 2 is greater than the maximum of 1",
        ),
    ],
)
async def test_search_values_the_schema_refuses_are_validation_errors(args: Any, text: Any) -> None:
    result = await call_tool(FakeDaemon(), "memory_search", args)
    assert result.text == text
    assert result.is_error


async def test_search_fallback_adds_exact_and_tag_hits() -> None:
    weak = m.SearchResult(
        id=1, mode="semantic", query="redis config", hits=[hit(record("a", H1), 0.2)]
    )
    exact = m.SearchResult(
        id=2, mode="exact", query="redis config", hits=[hit(record("b", H2), 1.0)]
    )
    tagged = m.SearchResult(id=3, mode="semantic", query=None, hits=[hit(record("a", H1), 0.5)])
    daemon = FakeDaemon(weak, exact, tagged)
    result = await call_tool(daemon, "memory_search", {"query": "redis config", "fallback": True})
    assert result.text.splitlines()[0] == (
        "Found 2 memories (mode: semantic) [fallback: exact+tag] for query: 'redis config'"
    )
    assert "(via semantic)" in result.text
    assert "(via exact_fallback)" in result.text
    tag_request = daemon.requests[2]
    assert isinstance(tag_request, m.Search)
    assert tag_request.tags == ["redis", "config"]
    assert tag_request.query is None


async def test_alias_retrieve_memory_goes_to_search_with_limit_5() -> None:
    daemon = FakeDaemon(m.SearchResult(id=1, mode="semantic", query="q", hits=[]))
    result = await call_tool(daemon, "retrieve_memory", {"query": "q"})
    request = daemon.last
    assert isinstance(request, m.Search)
    assert request.limit == 5
    assert result.text == "No memories found for query: 'q'"


async def test_list_json_and_request() -> None:
    page = m.Page(
        id=1, memories=[record()], page=2, page_size=5, total=6, total_pages=2, has_more=False
    )
    daemon = FakeDaemon(page)
    result = await call_tool(daemon, "memory_list", {"page": 2, "page_size": 5, "tags": "a"})
    assert daemon.last == m.ListMemories(id=0, page=2, page_size=5, tags=["a"])
    assert json.loads(result.text)["total"] == 6


async def test_search_by_tag_alias_lists() -> None:
    page = m.Page(id=1, memories=[], page=1, page_size=20, total=0, total_pages=0, has_more=False)
    daemon = FakeDaemon(page)
    await call_tool(daemon, "search_by_tag", {"tag": "Work"})
    assert daemon.last == m.ListMemories(id=0, tags=["work"])


async def test_delete_by_hash_texts() -> None:
    daemon = FakeDaemon(m.Deleted(id=1, content_hashes=[H1], dry_run=False))
    result = await call_tool(daemon, "memory_delete", {"content_hash": H1, "tags": ["ignored"]})
    assert result.text == f"Successfully deleted memory {H1}\n\nDeleted 1 memories"
    assert daemon.last == m.Delete(id=0, content_hash=H1)
    missing = await call_tool(FakeDaemon(NotFound("x")), "delete_memory", {"content_hash": H2})
    assert missing.text == f"Error: Memory with hash {H2} not found"
    assert not missing.is_error
    dry = await call_tool(
        FakeDaemon(m.Deleted(id=1, content_hashes=[], dry_run=True)),
        "memory_delete",
        {"content_hash": H2, "dry_run": True},
    )
    assert dry.text == f"Error: Memory not found: {H2}"


async def test_delete_by_hash_after_lost_ack_is_success() -> None:
    lost = Delivery(reply=m.Deleted(id=1, content_hashes=[], dry_run=False), ambiguous=True)
    result = await call_tool(FakeDaemon(lost), "memory_delete", {"content_hash": H1})
    assert result.text == f"Successfully deleted memory {H1}\n\nDeleted 1 memories"
    assert not result.is_error


async def test_delete_by_tags_texts() -> None:
    daemon = FakeDaemon(m.Deleted(id=1, content_hashes=[H1, H2], dry_run=False))
    result = await call_tool(daemon, "delete_by_tag", {"tags": "old"})
    assert result.text == "Successfully deleted 2 memories matching 1 tag(s)\n\nDeleted 2 memories"
    none = await call_tool(
        FakeDaemon(m.Deleted(id=1, content_hashes=[], dry_run=False)),
        "memory_delete",
        {"tags": ["zz"]},
    )
    assert not none.is_error
    assert none.text == "Error: No memories found matching any of the 1 tags"


async def test_delete_needs_a_filter() -> None:
    result = await call_tool(FakeDaemon(), "memory_delete", {})
    assert (
        result.text == "Error: At least one filter required (content_hash, tags, before, or after)"
    )


async def test_update_fields_text_matches_mms() -> None:
    daemon = FakeDaemon(m.Updated(id=1, content_hash=H1, fields=["tags", "updated_at"]))
    result = await call_tool(
        daemon,
        "memory_update",
        {"content_hash": H1, "updates": {"tags": "A,b", "metadata": {"x": 1}, "priority": "high"}},
    )
    assert result.text == (
        "Successfully updated memory metadata. "
        "Updated fields: tags, custom_metadata, priority, updated_at"
    )
    assert daemon.last == m.Update(
        id=0, content_hash=H1, tags=["a", "b"], metadata={"x": 1, "priority": "high"}
    )


async def test_update_errors() -> None:
    assert (await call_tool(FakeDaemon(), "memory_update", {"updates": {"a": 1}})).text == (
        "Input validation error: 'content_hash' is a required property"
    )
    assert (await call_tool(FakeDaemon(), "memory_update", {"content_hash": H1})).text == (
        "Input validation error: 'updates' is a required property"
    )
    assert (await call_tool(FakeDaemon(), "update_memory_metadata", {"content_hash": H1})).text == (
        "Error: updates dictionary is required"
    )
    result = await call_tool(
        FakeDaemon(NotFound(f"Memory with hash {H1} not found")),
        "memory_update",
        {"content_hash": H1, "updates": {"tags": []}},
    )
    assert result.text == f"Failed to update memory metadata: Memory with hash {H1} not found"
    assert not result.is_error
    missing = NotFound(f"Memory {H1} not found")
    versioned = await call_tool(
        FakeDaemon(missing),
        "memory_update",
        {"content_hash": H1, "updates": {"content": "x"}, "versioned": True},
    )
    assert versioned.text == f"Failed versioned update: Memory {H1} not found"
    assert not versioned.is_error
    no_content = await call_tool(
        FakeDaemon(), "memory_update", {"content_hash": H1, "updates": {"a": 1}, "versioned": True}
    )
    assert no_content.text == "Error: versioned update requires 'content' field in updates."


async def test_health_stats_cleanup() -> None:
    health = await call_tool(FakeDaemon(health_report()), "check_database_health", {})
    assert health.text.startswith("Database Health Check Results:\n{")
    assert not health.is_error
    stats = await call_tool(FakeDaemon(health_report()), "memory_stats", {})
    assert json.loads(stats.text)["total_calls"] == 4
    cleanup = await call_tool(
        FakeDaemon(m.CleanedUp(id=1, content_hashes=[])), "memory_cleanup", {}
    )
    assert cleanup.text == "No duplicate memories found"


async def test_daemon_bad_request_keeps_tool_wording() -> None:
    result = await call_tool(
        FakeDaemon(BadRequest("content is empty")), "memory_store", {"content": "x"}
    )
    assert result.text == "Error storing memory: content is empty"
    search = await call_tool(
        FakeDaemon(BadRequest("limit must be between 1 and 1000")), "memory_search", {"query": "q"}
    )
    assert search.text == "Error: limit must be between 1 and 1000"


async def test_unknown_and_unsupported_tools() -> None:
    unknown = await call_tool(FakeDaemon(), "no_such_tool", {})
    assert json.loads(unknown.text) == {"error": "Unknown tool: no_such_tool"}
    assert not unknown.is_error
    embed = await call_tool(FakeDaemon(), "get_raw_embedding", {"content": "x"})
    assert not embed.is_error
    assert "not supported by memhub" in embed.text
    alias = await call_tool(FakeDaemon(), "delete_memory", {})
    assert alias.text == "Error: delete_memory requires the argument 'content_hash'"


async def test_the_store_argument_reaches_the_daemon_as_12x_means_it() -> None:
    daemon = FakeDaemon(m.Updated(id=1, content_hash=H1, fields=["tags", "updated_at"]))
    updated = await call_tool(
        daemon, "memory_update", {"content_hash": H1, "updates": {"tags": ["a"]}, "store": "all"}
    )
    assert updated.text.startswith("Successfully updated memory metadata.")
    assert isinstance(daemon.requests[-1], m.Update)
    assert daemon.requests[-1].store is None  # 'all': the update is not confined
    daemon = FakeDaemon(m.Deleted(id=1, content_hashes=[H1], dry_run=False))
    await call_tool(daemon, "memory_delete", {"content_hash": H1, "store": "all"})
    assert isinstance(daemon.requests[-1], m.Delete)
    assert daemon.requests[-1].store == "all"  # the daemon deletes in any store
    daemon = FakeDaemon(m.Updated(id=1, content_hash=H1, fields=["a"]))
    await call_tool(
        daemon, "memory_update", {"content_hash": H1, "updates": {"a": 1}, "store": "docs"}
    )
    assert isinstance(daemon.requests[-1], m.Update)
    assert daemon.requests[-1].store == "docs"
