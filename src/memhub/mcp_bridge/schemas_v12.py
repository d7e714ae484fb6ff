"""The properties mcp-memory-service 12.4 added to the nine core tools' input schemas.

Advertised only with ``MEMHUB_TOOL_SCHEMAS=v12`` (see :func:`memhub.mcp_bridge.schemas.mcp_tools`):
by default memhub lists 10.59's schemas byte for byte, which already accept these arguments
(they forbid no extra properties). The texts are 12.4's ``tools/registry.py`` schema data.
"""

from __future__ import annotations

from typing import Any, Final

ADDED_PROPERTIES: Final[dict[str, dict[str, Any]]] = {
    "memory_store": {
        "restore_deleted": {
            "type": "boolean",
            "description": "Bring back content that was deleted on "
            "this server. Default false: re-sending "
            "deleted content is refused with 'Not "
            "stored: this content was deleted on "
            "<date>; pass restore_deleted=true to "
            "bring it back'. Set true only when the "
            "user deliberately wants the deleted "
            "memory back.",
        },
        "agent_id": {
            "type": "string",
            "description": "Optional authoring agent id (defaults to the "
            "MCP_AGENT_ID env var, else unset). Stored in "
            "metadata for multi-agent attribution; null "
            "means unknown.",
        },
        "store": {
            "type": "string",
            "description": "Target store partition (default: 'default'). Use "
            "'docs' for documents, 'all' for cross-store "
            "search.",
        },
    },
    "memory_store_session": {
        "store": {
            "type": "string",
            "description": "Target store partition (default: "
            "'default'). Use 'docs' for documents, "
            "'all' for cross-store search.",
        },
        "agent_id": {
            "type": "string",
            "description": "Optional authoring agent id. Falls back "
            "to the X-Agent-ID header, then "
            "MCP_AGENT_ID. Passing it here makes the "
            "caller's author win over the server "
            "default.",
        },
    },
    "memory_search": {
        "rerank": {
            "type": "boolean",
            "default": False,
            "description": "Opt-in second-stage ONNX rerank of the top "
            "MCP_RERANK_CANDIDATES results. Requires "
            "MCP_RERANK_ENABLED on the server; off by default "
            "and a no-op when the server flag is unset.",
        },
        "ranking_weights": {
            "type": "object",
            "description": "Custom weights for ranked mode (keys: "
            "semantic, time_decay, access_frequency, "
            "quality). Values are normalized to "
            "sum=1.0.",
            "properties": {
                "semantic": {"type": "number"},
                "time_decay": {"type": "number"},
                "access_frequency": {"type": "number"},
                "quality": {"type": "number"},
            },
        },
        "agent_id": {
            "type": "string",
            "description": "Filter to memories authored by this agent "
            "(matches metadata.agent_id or the agent:<id> "
            "tag). Opt-in; omit to search all agents.",
        },
        "include_beliefs": {
            "type": "boolean",
            "default": False,
            "description": "Include derived beliefs alongside "
            "memories. Beliefs are confidence-scored "
            "knowledge derived from observations. "
            "Each belief result includes "
            "result_type='belief' and confidence "
            "score.",
        },
        "store": {
            "type": "string",
            "description": "Target store partition (default: 'default'). Use "
            "'docs' for documents, 'all' for cross-store "
            "search.",
        },
        "summarize": {
            "type": "boolean",
            "default": False,
            "description": "Return a query-aware LLM summary of the "
            "retrieved memories with source hashes and "
            "preserved metadata instead of their full "
            "contents. Requires operator permission via "
            "MCP_SEARCH_SUMMARIZE_ENABLED=true (off by "
            "default), a query, and a configured LLM "
            "provider. Falls back to raw results with a "
            "warning on failure.",
        },
    },
    "memory_list": {
        "store": {
            "type": "string",
            "description": "Target store partition (default: 'default'). Use "
            "'docs' for documents, 'all' for cross-store "
            "search.",
        },
        "agent_id": {
            "type": "string",
            "description": "Filter to memories authored by this agent "
            "(matches metadata.agent_id or the agent:<id> "
            "tag). Opt-in; omit to search all agents.",
        },
    },
    "memory_delete": {
        "store": {
            "type": "string",
            "description": "Target store partition (default: 'default'). Use "
            "'docs' for documents, 'all' for cross-store "
            "search.",
        }
    },
}

SEARCH_MODES: Final[list[str]] = ["semantic", "exact", "hybrid", "ranked"]
"""12.4's ``memory_search`` ``mode`` enum (10.59's plus ``ranked``)."""
