"""``commit_session_legacy``: a session's learnings as 12.4's structured observations.

One observation for the session, one per user correction and per decision, a mistake note per
error (:mod:`~memhub.mcp_bridge.v12_tools.mistakes`), and the agent's session counter bumped.
Everything goes to the default store. 12.4 then distills in the background with an LLM; with
none configured that stores nothing, and memhub (which has none) does not start it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

from memhub.errors import ServiceError
from memhub.mcp_bridge.calls import ToolResult
from memhub.mcp_bridge.v12_tools import mistakes
from memhub.protocol import messages as m

if TYPE_CHECKING:
    from memhub.mcp_bridge.calls import Daemon

MISSING: Final = "Missing required fields: session_id, agent_id, task_summary, outcome"


def _compact(value: dict[str, Any]) -> ToolResult:
    return ToolResult(json.dumps(value))


async def _observe(daemon: Daemon, content: str, tags: list[str], metadata: dict[str, Any]) -> None:
    # 12.4 does not look at the outcome of these stores (a duplicate still counts).
    await daemon.call(
        m.Store(id=0, content=content, tags=tags, memory_type="observation", metadata=metadata)
    )


def _items(args: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = args.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise TypeError(f"'{key}' must be a list of objects")
    return value


async def commit(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    session_id, agent_id = args.get("session_id"), args.get("agent_id")
    task_summary, outcome = args.get("task_summary"), args.get("outcome")
    if not all([session_id, agent_id, task_summary, outcome]):
        return _compact({"status": "error", "message": MISSING})
    created = notes = 0
    base = {"session_id": session_id, "agent_id": agent_id, "source": "observation"}
    try:
        errors = _items(args, "errors")
        corrections = _items(args, "user_corrections")
        decisions = _items(args, "decisions")
        await _observe(
            daemon,
            f"Session: {session_id} | Agent: {agent_id} | Task: {task_summary} | "
            f"Outcome: {outcome}",
            ["session-legacy"],
            {"observation_type": "session_legacy", **base, "outcome": outcome},
        )
        created += 1
        for err in errors:
            await mistakes.add(
                daemon,
                {
                    "error_pattern": err.get("error", ""),
                    "context_signature": err.get("tool", ""),
                    "incorrect_action": err.get("error", ""),
                    "correct_action": err.get("resolution", ""),
                },
                with_agent=False,  # 12.4 does not give these notes the agent id
            )
            notes += 1  # counted whatever became of the note, as 12.4 counts
        for corr in corrections:
            await _observe(
                daemon,
                f"User corrected: {corr.get('original', '')} → {corr.get('corrected_to', '')}",
                ["user-correction", "high-priority"],
                {"observation_type": "user_correction", **base},
            )
            created += 1
        for dec in decisions:
            await _observe(
                daemon,
                f"Decision: {dec.get('what', '')} — Reason: {dec.get('why', '')}",
                ["decision"],
                {"observation_type": "decision", **base},
            )
            created += 1
        counter = await daemon.call(m.BumpSessionCounter(id=0, agent_id=str(agent_id)))
        del counter  # 12.4 swallows a failed counter update
    except (TypeError, ServiceError) as exc:
        message = exc.message if isinstance(exc, ServiceError) else str(exc)
        return _compact({"status": "error", "message": message})
    return _compact(
        {"status": "recorded", "observations_created": created, "mistake_notes_updated": notes}
    )
