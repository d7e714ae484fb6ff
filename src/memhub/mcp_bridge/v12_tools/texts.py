"""How 12.4's extra tools print their answers."""

from __future__ import annotations

import json
from typing import Any

from memhub.mcp_bridge.calls import ToolResult


def as_json(value: Any) -> str:
    """12.4's ``json.dumps(result, indent=2, default=str)`` (ASCII escapes included)."""
    return json.dumps(value, indent=2, default=str)


def answer(value: Any) -> ToolResult:
    return ToolResult(as_json(value))


def compact(value: Any) -> ToolResult:
    """12.4's ``json.dumps(result)`` without indent."""
    return ToolResult(json.dumps(value, default=str))


def status_error(message: str) -> ToolResult:
    return answer({"status": "error", "message": message})


def result_repr(error: str) -> str:
    """How 12.4 quotes a failed ``store_memory`` result inside a message (a Python repr)."""
    return repr({"success": False, "error": error})
