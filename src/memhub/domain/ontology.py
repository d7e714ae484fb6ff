"""mcp-memory-service's memory-type ontology: 12 base types, their subtypes, custom additions.

A type that is neither a base type nor a subtype is stored as ``observation`` with upstream's
warning text, which agents read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Final

log = logging.getLogger(__name__)

DEFAULT_TYPE: Final = "note"
FALLBACK_TYPE: Final = "observation"

TAXONOMY: Final[dict[str, tuple[str, ...]]] = {
    "observation": (
        "code_edit",
        "file_access",
        "search",
        "command",
        "conversation",
        "conversation_turn",
        "session",
        "document",
        "note",
        "reference",
        "user_correction",
        "tool_outcome",
        "preference_signal",
    ),
    "decision": ("architecture", "tool_choice", "approach", "configuration"),
    "learning": ("insight", "best_practice", "anti_pattern", "gotcha"),
    "error": ("bug", "failure", "exception", "timeout", "mistake"),
    "pattern": ("recurring_issue", "code_smell", "design_pattern", "workflow"),
    "planning": (
        "sprint_goal",
        "backlog_item",
        "story_point_estimate",
        "velocity",
        "retrospective",
        "standup_note",
        "acceptance_criteria",
    ),
    "ceremony": (
        "sprint_review",
        "sprint_planning",
        "daily_standup",
        "retrospective_action",
        "demo_feedback",
    ),
    "milestone": ("deliverable", "dependency", "risk", "constraint", "assumption", "deadline"),
    "stakeholder": (
        "requirement",
        "feedback",
        "escalation",
        "approval",
        "change_request",
        "status_update",
    ),
    "meeting": ("action_item", "attendee_note", "agenda_item", "follow_up", "minutes"),
    "research": ("finding", "comparison", "recommendation", "source", "hypothesis"),
    "communication": (
        "email_summary",
        "chat_summary",
        "announcement",
        "request",
        "response",
    ),
}


def custom_types_from_env(environ: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """``MCP_CUSTOM_MEMORY_TYPES`` (JSON ``{"type": ["sub", ...]}``); invalid JSON is ignored
    with a warning, as upstream does."""
    raw = environ.get("MCP_CUSTOM_MEMORY_TYPES")
    if not raw:
        return {}
    try:
        loaded = json.loads(raw)
    except ValueError:
        log.warning("MCP_CUSTOM_MEMORY_TYPES is not valid JSON; ignoring it")
        return {}
    if not isinstance(loaded, dict):
        log.warning("MCP_CUSTOM_MEMORY_TYPES must be a JSON object; ignoring it")
        return {}
    custom: dict[str, tuple[str, ...]] = {}
    for base, subs in loaded.items():
        if not isinstance(base, str) or not base.strip():
            continue
        subtypes = subs if isinstance(subs, list) else []
        custom[base.strip().lower()] = tuple(
            s.strip().lower() for s in subtypes if isinstance(s, str) and s.strip()
        )
    return custom


def known_types(custom: Mapping[str, tuple[str, ...]] | None = None) -> frozenset[str]:
    names: set[str] = set()
    for table in (TAXONOMY, custom or {}):
        for base, subs in table.items():
            names.add(base)
            names.update(subs)
    return frozenset(names)


def canonical_memory_type(
    requested: str | None, custom: Mapping[str, tuple[str, ...]] | None = None
) -> tuple[str, str | None]:
    """The type to store and, when it was coerced, upstream's warning line."""
    if requested is None or not requested.strip():
        return DEFAULT_TYPE, None
    name = requested.strip().lower()
    if name in known_types(custom):
        return name, None
    warning = (
        f"Warning: requested memory_type '{requested}' is not in the ontology — stored as "
        f"'{FALLBACK_TYPE}'. Register custom types via the MCP_CUSTOM_MEMORY_TYPES env var, "
        f"e.g. '{{\"{requested}\": []}}'."
    )
    return FALLBACK_TYPE, warning
