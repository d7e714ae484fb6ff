"""What an HTTP caller needs to make a tool call, and each request it sends: ``read`` or ``write``.

Two rules, both must pass:

* **Per tool** (:func:`tool_scope`), 12.4's rule (``MemoryServer.tool_requires_write``, used by
  its ``/mcp`` and its SDK transports): a tool needs ``read`` only if its annotations say
  ``readOnlyHint``; ``memory_graph`` needs ``read`` for its read actions. Everything else needs
  ``write``: the tools without the hint whatever their arguments (``memory_quality get``,
  ``memory_consolidate status`` and a dry-run ``memory_delete`` included), and any name not in
  12.4's list (old aliases and unknown tools: 12.4 fails closed).
* **Per request** (:func:`needed_scope`): each daemon request a tool sends is classified by
  what it does; a request nobody classified (a type added later) is refused, so a new
  operation is never served over HTTP by accident.
"""

from __future__ import annotations

from typing import Any, Final

from memhub.mcp_bridge.v12_tools import catalog
from memhub.protocol import messages as m

NEVER: Final = None
"""Requests no tool sends and HTTP never serves (the daemon's own and the web UI's)."""

REQUEST_SCOPES: Final[dict[type[Any], str | None]] = {
    m.Store: "write",
    m.StoreSession: "write",
    m.Search: "read",
    m.ListMemories: "read",
    m.Get: "read",
    m.Delete: "write",  # a dry run only counts: read (needed_scope)
    m.Update: "write",
    m.CleanupDuplicates: "write",  # as Delete
    m.Health: "read",
    m.CountTags: "read",
    m.CountTypes: "read",
    m.CountDays: "read",
    m.Subscribe: NEVER,
    m.Unsubscribe: NEVER,
    m.Shutdown: NEVER,
    m.IssueTicket: NEVER,
    m.ListClients: NEVER,
    # 12.4's extra tools (memhub.protocol.extras)
    m.MistakeNoteAdd: "write",
    m.BumpSessionCounter: "write",
    m.ListConflicts: "read",
    m.ResolveConflict: "write",
    m.VersionedUpdate: "write",
    m.GraphQuery: "read",
    m.ExploreEntities: "read",
    m.EntityDetail: "read",
    m.QualityRate: "write",
    m.QualityAnalyze: "read",
    m.QualityMaintain: "write",  # as Delete
    m.ConsolidateRecommend: "read",
    m.ConsolidateMerge: "write",
    m.ConsolidateRun: "write",
}
"""Every request type of :data:`memhub.protocol.messages.Request` (a test keeps it complete)."""

_DRY_RUNS: Final = (m.Delete, m.CleanupDuplicates, m.QualityMaintain)

GRAPH_READ_ACTIONS: Final = frozenset(
    {
        "connected",
        "path",
        "subgraph",
        "infer",
        "suggest",
        "abduct",
        "list_entities",
        "entity_profile",
    }
)
"""``memory_graph`` actions 12.4 serves with ``read`` (the others extract entities: ``write``)."""


def needed_scope(request: m.Request) -> str | None:
    """``read`` or ``write`` for what the tools send; None for what HTTP never serves (and for
    a request type not in :data:`REQUEST_SCOPES`)."""
    if isinstance(request, _DRY_RUNS) and request.dry_run:
        return "read"  # writes nothing; the tool's own scope decides whether it may run
    return REQUEST_SCOPES.get(type(request))


def tool_scope(name: str, arguments: dict[str, Any] | None) -> str:
    """The scope 12.4 requires for calling tool ``name`` with ``arguments``."""
    if name == "memory_graph":
        action = (arguments or {}).get("action")
        return "read" if isinstance(action, str) and action in GRAPH_READ_ACTIONS else "write"
    if not catalog.is_12x_tool(name):
        return "write"
    return "read" if catalog.tool_annotations(name).get("readOnlyHint") is True else "write"
