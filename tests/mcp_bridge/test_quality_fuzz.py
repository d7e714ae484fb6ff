"""``memory_quality`` under any arguments and any stored metadata: always a text, never a raise.

The old tool names reach the handler without schema validation (as in 12.4), and the metadata
it reads may have been written by anyone, so both are fuzzed against a permissive fake daemon.
"""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, example, given, settings

from memhub.mcp_bridge.calls import Delivery
from memhub.mcp_bridge.tools import call_tool
from memhub.mcp_bridge.v12_tools import quality
from memhub.protocol import messages as m

from .fakes import FakeDaemon, record

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
KEYS = ["action", "content_hash", "rating", "feedback", "min_quality", "max_quality", "dry_run"]
keys = st.sampled_from(KEYS)
actions = st.sampled_from(["rate", "get", "analyze", "maintain", "maintain_status", "x", ""])
arguments = st.fixed_dictionaries(
    {"action": actions | json_values}, optional=dict.fromkeys(keys.example(), json_values)
) | st.dictionaries(keys, json_values, max_size=6)
metadata_keys = st.sampled_from(
    ["quality_score", "quality_provider", "access_count", "last_accessed_at", "ai_scores",
     "user_rating", "user_feedback", "quality_components", "rating_history"]
)  # fmt: skip
metadata = st.dictionaries(metadata_keys, json_values, max_size=6)


class QualityDaemon(FakeDaemon):
    def __init__(self, meta: dict[str, Any]) -> None:
        super().__init__()
        self.meta = meta

    async def call(self, request: m.Request) -> Delivery:
        self.requests.append(request)
        match request:
            case m.Get():
                reply: m.Reply = m.Found(id=0, memory=record(metadata=self.meta))
            case m.QualityRate():
                reply = m.ToolData(id=0, data={"old_score": 0.5, "new_score": 0.9})
            case m.QualityAnalyze():
                reply = m.ToolData(
                    id=0,
                    data={"store_total": 1, "total": 1, "high": 0, "medium": 1, "low": 0,
                          "average": 0.5, "providers": [["implicit", 1]],
                          "top": [{"content_hash": "h", "content": "c", "score": 0.5}],
                          "bottom": [{"content_hash": "h", "content": "c", "score": 0.5}]},
                )  # fmt: skip
            case _:
                reply = m.ToolData(id=0, data={"steps": {}, "errors": []})
        return Delivery(reply=reply, sent_at=1.0)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(args=arguments, meta=metadata)
@example(args={"action": "analyze", "min_quality": 2**70}, meta={})
@example(args={"action": "get", "content_hash": "h"}, meta={"user_rating": 7, "ai_scores": [1]})
@example(args={"action": "rate", "content_hash": "h", "rating": True}, meta={})
@example(
    args={"action": "rate", "content_hash": {"a": 1}, "rating": " 1 ", "feedback": [1]}, meta={}
)
@example(args={"action": "maintain", "dry_run": {"x": 1}}, meta={})
async def test_any_arguments_and_metadata_give_a_text(args: dict[str, Any], meta: dict[str, Any]):
    result = await quality.quality(QualityDaemon(meta), args)
    assert isinstance(result.text, str)
    assert result.text.strip()
    assert not result.is_error


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(["rate_memory", "get_memory_quality", "analyze_quality_distribution"]),
    args=st.dictionaries(keys, json_values, max_size=5),
)
async def test_the_old_names_give_a_text(name: str, args: dict[str, Any]):
    result = await call_tool(QualityDaemon({}), name, args)
    assert isinstance(result.text, str)
    assert result.text.strip()
