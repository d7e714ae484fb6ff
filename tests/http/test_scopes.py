"""The scope rules of HTTP tool calls: every request type is classified, and each tool needs
what 12.4 requires of it."""

from __future__ import annotations

from typing import get_args

import pytest

from memhub.http import scopes
from memhub.mcp_bridge.aliases import ALIASES
from memhub.mcp_bridge.v12_tools import catalog
from memhub.protocol import extras
from memhub.protocol import messages as m


def test_every_request_type_is_classified() -> None:
    # A request type added later fails here until someone decides what it needs over HTTP.
    assert set(scopes.REQUEST_SCOPES) == set(get_args(m.Request))
    for kind in extras.REQUESTS:
        assert scopes.REQUEST_SCOPES[kind] in {"read", "write"}, kind.__name__


def test_an_unclassified_request_is_refused() -> None:
    class Later(m.Health):  # a request type the table does not know
        pass

    assert scopes.needed_scope(Later(id=1)) is None


def test_dry_runs_only_read() -> None:
    assert scopes.needed_scope(m.Delete(id=1, content_hash="h", dry_run=True)) == "read"
    assert scopes.needed_scope(m.Delete(id=1, content_hash="h")) == "write"
    assert scopes.needed_scope(extras.QualityMaintain(id=1, dry_run=True)) == "read"
    assert scopes.needed_scope(extras.QualityMaintain(id=1, dry_run=False)) == "write"


def test_each_tool_needs_what_its_annotations_say() -> None:
    for tool in catalog.tools():
        if tool["name"] == "memory_graph":
            continue
        read_only = (tool.get("annotations") or {}).get("readOnlyHint") is True
        assert scopes.tool_scope(tool["name"], {}) == ("read" if read_only else "write")
    # 12.4's classification does not look at the arguments: a dry run needs write too.
    assert scopes.tool_scope("memory_delete", {"content_hash": "h", "dry_run": True}) == "write"
    assert scopes.tool_scope("memory_quality", {"action": "get"}) == "write"
    assert scopes.tool_scope("memory_explore", {"query": "q"}) == "read"


@pytest.mark.parametrize("action", sorted(scopes.GRAPH_READ_ACTIONS))
def test_memory_graph_reads_by_action(action: str) -> None:
    assert scopes.tool_scope("memory_graph", {"action": action}) == "read"


def test_other_graph_actions_and_unknown_names_need_write() -> None:
    assert scopes.tool_scope("memory_graph", {"action": "extract_entities"}) == "write"
    assert scopes.tool_scope("memory_graph", {"action": ["connected"]}) == "write"
    assert scopes.tool_scope("memory_graph", None) == "write"
    assert scopes.tool_scope("no_such_tool", {}) == "write"
    # 12.4 looks the name up in its tool list: an old alias is not there (fails closed).
    alias = next(iter(ALIASES))
    assert not catalog.is_12x_tool(alias)
    assert scopes.tool_scope(alias, {}) == "write"
