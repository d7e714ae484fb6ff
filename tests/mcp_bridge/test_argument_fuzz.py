"""Fuzz the bridge's argument handling: any JSON arguments to any tool name give a result.

Whatever a model puts in a tool call (wrong types, nesting, huge numbers, unknown keys, aliases'
shapes), the bridge answers with a text, flags an error only as its rule says, and never raises
(an exception here would reach the client as an internal error or kill the request). The daemon
is a permissive fake that answers every request the way a real one could.
"""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, example, given, settings

from memhub.errors import NotFound
from memhub.mcp_bridge.aliases import ALIASES
from memhub.mcp_bridge.calls import Delivery
from memhub.mcp_bridge.schemas import TOOLS_BY_NAME
from memhub.mcp_bridge.tools import call_tool
from memhub.protocol import messages as m

from .fakes import FakeDaemon, health_report

HASH = "a" * 64
TOOL_NAMES = sorted(TOOLS_BY_NAME) + sorted(ALIASES)[:12] + ["no_such_tool"]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
likely_keys = st.sampled_from(
    [
        "content",
        "query",
        "tags",
        "metadata",
        "memory_type",
        "limit",
        "page",
        "page_size",
        "content_hash",
        "updates",
        "mode",
        "time_expr",
        "after",
        "before",
        "agent_id",
        "store",
        "turns",
        "session_id",
        "dry_run",
        "tag_match",
        "n_results",
        "include_debug",
        "summarize",
    ]
)
arguments = st.dictionaries(likely_keys | st.text(max_size=12), json_values, max_size=6)


def answer(request: m.Request) -> m.Reply:
    match request:
        case m.Store():
            return m.Stored(id=request.id, content_hash=HASH, memory_type="note", created_at=1.0)
        case m.StoreSession():
            return m.SessionStored(
                id=request.id, session_id="s", content_hashes=[HASH], turns=len(request.turns)
            )
        case m.Search():
            return m.SearchResult(id=request.id, mode=request.mode, query=request.query, hits=[])
        case m.ListMemories():
            return m.Page(
                id=request.id,
                memories=[],
                page=request.page,
                page_size=request.page_size,
                total=0,
                total_pages=0,
                has_more=False,
            )
        case m.Delete():
            return m.Deleted(id=request.id, content_hashes=[], dry_run=request.dry_run)
        case m.Update():
            return m.Updated(id=request.id, content_hash=request.content_hash, fields=["tags"])
        case m.CleanupDuplicates():
            return m.CleanedUp(id=request.id, content_hashes=[])
        case m.Health():
            return health_report(id=request.id)
    raise NotFound(f"Memory with hash {HASH} not found")


class AnyDaemon(FakeDaemon):
    """Answers every request (a Get finds nothing), however many come."""

    async def call(self, request: m.Request) -> Delivery:
        self.requests.append(request)
        try:
            return Delivery(reply=answer(request), sent_at=1_000.0)
        except NotFound as exc:
            return Delivery(error=exc, sent_at=1_000.0)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(TOOL_NAMES), args=arguments)
@example(name="memory_store", args={"content": "x", "metadata": {"tags": [[["deep"]]]}})
@example(name="memory_search", args={"query": "q", "limit": 2**70})
@example(name="memory_list", args={"page": -1, "page_size": "ten"})
@example(name="memory_update", args={"content_hash": HASH, "updates": "not an object"})
async def test_any_arguments_to_any_tool_give_a_text_result(name: str, args: dict[str, Any]):
    result = await call_tool(AnyDaemon(), name, args)
    assert isinstance(result.text, str)
    assert result.text.strip(), f"{name}({args!r}) answered an empty text"
