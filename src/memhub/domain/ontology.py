"""mcp-memory-service's memory-type ontology: 12 base types, their subtypes, custom additions.

A requested type is compared stripped and lower-cased (12.x). One that is neither a base type
nor a subtype is stored as ``observation``, and the caller gets upstream's warning line, which
agents read.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Final

log = logging.getLogger(__name__)

DEFAULT_TYPE: Final = "note"
FALLBACK_TYPE: Final = "observation"
CUSTOM_TYPES_ENV: Final = "MCP_CUSTOM_MEMORY_TYPES"

CustomTypes = Mapping[str, tuple[str, ...]]

# models/ontology.py TAXONOMY of 10.59, plus the three observation subtypes 12.x added
# (user_correction, tool_outcome, preference_signal); a superset accepts what either writes.
TAXONOMY: Final[Mapping[str, tuple[str, ...]]] = {
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
    "communication": ("email_summary", "chat_summary", "announcement", "request", "response"),
}

# 12.x's rule for custom names (10.59 wanted a Python identifier, which refused "a-b").
_CUSTOM_NAME: Final = re.compile(r"[a-z][a-z0-9_-]*")


def custom_types_from_env(environ: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """The custom types in ``MCP_CUSTOM_MEMORY_TYPES`` (JSON ``{"type": ["sub", ...]}``).

    As in 12.x, names are stripped and lower-cased and must match ``[a-z][a-z0-9_-]*``; a base
    type with a bad name, or whose subtypes are not a list, is skipped; bad subtypes are
    dropped; a base type with no subtypes is still registered. Invalid JSON or a non-object
    registers nothing. Every problem is logged and ignored, as upstream does, so that a typo in
    the environment does not stop the daemon.
    """
    raw = environ.get(CUSTOM_TYPES_ENV)
    if not raw:
        return {}
    try:
        loaded = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        log.error("%s is not valid JSON (%s); no custom types registered", CUSTOM_TYPES_ENV, exc)
        return {}
    if not isinstance(loaded, dict):
        log.error("%s must be a JSON object; no custom types registered", CUSTOM_TYPES_ENV)
        return {}
    custom: dict[str, tuple[str, ...]] = {}
    for raw_base, raw_subtypes in loaded.items():
        base = raw_base.strip().lower()
        if not _CUSTOM_NAME.fullmatch(base):
            log.warning("custom memory type %r skipped: not a valid type name", raw_base)
            continue
        if not isinstance(raw_subtypes, list):
            log.warning("custom memory type %r skipped: its subtypes must be a list", raw_base)
            continue
        subtypes = tuple(
            name
            for name in (s.strip().lower() for s in raw_subtypes if isinstance(s, str))
            if _CUSTOM_NAME.fullmatch(name)
        )
        if len(subtypes) < len(raw_subtypes):
            log.warning("custom memory type %r: invalid subtypes dropped", raw_base)
        custom[base] = tuple(dict.fromkeys(custom.get(base, ()) + subtypes))
    return custom


def known_types(custom: CustomTypes | None = None) -> frozenset[str]:
    """Every valid type name: base types and subtypes, built in and custom."""
    names: set[str] = set()
    for table in (TAXONOMY, custom or {}):
        for base, subtypes in table.items():
            names.add(base)
            names.update(subtypes)
    return frozenset(names)


def canonical_memory_type(
    requested: str | None, custom: CustomTypes | None = None
) -> tuple[str, str | None]:
    """The type to store for a requested one and, when it was coerced, upstream's warning.

    ``None`` or blank gives ``"note"``. Otherwise the stripped, lower-cased name is kept when it
    is a base type or subtype (built in or in ``custom``), else it becomes ``"observation"`` and
    the warning line (without a leading newline) quotes the request as given. Unlike 12.x, a
    type that only differs in case ("Decision") is not warned about: it is stored as
    "decision", which is what the agent asked for.
    """
    if requested is None or not requested.strip():
        return DEFAULT_TYPE, None
    name = requested.strip().lower()
    if name in known_types(custom):
        return name, None
    return FALLBACK_TYPE, type_coerced_warning(requested, FALLBACK_TYPE)


def type_coerced_warning(requested: str, stored_as: str) -> str:
    """Upstream's line (agents read it) saying a requested type was stored as another."""
    return (
        f"Warning: requested memory_type '{requested}' is not in the ontology — stored as "
        f"'{stored_as}'. Register custom types via the {CUSTOM_TYPES_ENV} env var, "
        f"e.g. '{{\"{requested}\": []}}'."
    )
