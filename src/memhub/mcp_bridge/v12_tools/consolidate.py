"""``memory_consolidate``: 12.4's run, status, recommend, scheduler, pause, resume and merge.

12.4's master switch is ``MCP_CONSOLIDATION_ENABLED`` (off by default): while it is off every
action but ``merge`` answers ``Consolidation is disabled``, as 12.4 does. With it on:

* ``run`` runs 12.4's pipeline for the horizon in the daemon (settings from this bridge's
  environment: :mod:`memhub.mcp_bridge.v12_tools.consolidate_run`) and prints 12.4's report.
  One run at a time per store: a second one, from any client, is told that one is in progress.
* ``status`` prints 12.4's health report: the five pipeline components healthy, the scheduler
  unhealthy with the reason (memhub runs none), the storage backend from the daemon's health;
  the statistics are this bridge process's runs (12.4's are its server process's).
* ``recommend`` is 12.4's recommendation over the same selection (the daemon reads it:
  :mod:`memhub.extras.consolidation`).
* ``scheduler`` answers 12.4's "scheduler disabled" shape with the reason: memhub runs no
  background scheduler, so there are no jobs to list; ``pause``/``resume`` answer 12.4's
  text for a missing scheduler.

``merge`` works with the switch off, as in 12.4: one write transaction in the daemon.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from memhub.errors import BadRequest, NotFound, ServiceError, TooLarge
from memhub.mcp_bridge import outcomes
from memhub.mcp_bridge.calls import ToolResult, expect
from memhub.mcp_bridge.v12_tools import consolidate_run
from memhub.mcp_bridge.v12_tools.dispatch import OLD_DAEMON
from memhub.mcp_bridge.v12_tools.texts import compact
from memhub.protocol import messages as m

if TYPE_CHECKING:
    from memhub.mcp_bridge.calls import Daemon

ACTIONS: Final = ("run", "status", "recommend", "scheduler", "pause", "resume", "merge")
#: 12.4's ``HORIZON_CONFIGS`` windows, in days.
WINDOWS: Final = {
    "daily": 1,
    "weekly": 7,
    "monthly": 30,
    "quarterly": 90,
    "yearly": 365,
    "incremental": 1,
}
#: 12.4's ``MCP_CONSOLIDATION_BATCH_SIZE`` default (its incremental mode is on by default).
BATCH_SIZE: Final = 500
COMPONENTS: Final = (
    "decay_calculator",
    "association_engine",
    "clustering_engine",
    "compression_engine",
    "forgetting_engine",
)
NO_SCHEDULER: Final = "memhub runs no background consolidation scheduler"
STATISTICS: Final = (
    "Total consolidation runs",
    "Successful runs",
    "Total memories processed",
    "Total associations created",
    "Total clusters created",
    "Total memories compressed",
    "Total memories archived",
)


def enabled() -> bool:
    """12.4's ``CONSOLIDATION_ENABLED`` (read per call: the bridge's environment)."""
    return os.environ.get("MCP_CONSOLIDATION_ENABLED", "false").lower() == "true"


def _old_daemon(exc: ServiceError) -> bool:
    return isinstance(exc, BadRequest) and exc.message.startswith("unknown message type")


async def consolidate(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    action = args.get("action")
    if not action:
        return ToolResult("Error: action parameter is required")
    if action not in ACTIONS:
        return ToolResult(f"Error: Invalid action '{action}'. Must be one of: {', '.join(ACTIONS)}")
    if action == "merge":
        return await merge(daemon, args)
    if not enabled():
        return ToolResult("Consolidation is disabled")
    horizon = args.get("time_horizon")
    match action:
        case "run":
            if not horizon:
                return ToolResult("Error: time_horizon is required for 'run' action")
            return await consolidate_run.run(daemon, horizon)
        case "status":
            return await status(daemon)
        case "recommend":
            if not horizon:
                return ToolResult("Error: time_horizon is required for 'recommend' action")
            return await recommend(daemon, horizon)
        case "scheduler":
            return ToolResult(f"Scheduler: DISABLED\nReason: {NO_SCHEDULER}")
    return ToolResult("Error: Consolidation scheduler not available")  # pause, resume


async def status(daemon: Daemon) -> ToolResult:
    delivery = await daemon.call(m.Health(id=0))
    components: list[tuple[str, str, str]] = [(c, "healthy", "") for c in COMPONENTS]
    components.append(("scheduler", "unhealthy", NO_SCHEDULER))
    if delivery.error is not None:
        components.append(("storage_backend", "unhealthy", delivery.error.message))
    else:
        report = expect(delivery.unwrap(), m.HealthReport)
        state = "healthy" if report.status == "healthy" else "unhealthy"
        components.append(("storage_backend", state, report.message))
    overall = "unhealthy"  # the worst component, as 12.4 folds them
    lines = [
        f"Consolidation System Status: {overall.upper()}",
        f"Last Updated: {datetime.now().isoformat()}",
        "",
        "Component Health:",
    ]
    for name, state, error in components:
        lines.append(f"  {name}: {state.upper()}")
        if state == "unhealthy" and error:
            lines.append(f"    Error: {error}")
    totals = consolidate_run.STATS.values()
    lines.extend(
        ["", "Statistics:", *(f"  {k}: {n}" for k, n in zip(STATISTICS, totals, strict=True))]
    )
    return ToolResult("\n".join(lines))


async def recommend(daemon: Daemon, horizon: object) -> ToolResult:
    if not isinstance(horizon, str) or horizon not in WINDOWS:
        return ToolResult("Error: Invalid time_horizon")
    delivery = await daemon.call(
        m.ConsolidateRecommend(
            id=0, now=time.time(), window_days=WINDOWS[horizon], limit=BATCH_SIZE
        )
    )
    if delivery.error is not None:
        if _old_daemon(delivery.error):
            return ToolResult(OLD_DAEMON.format(tool="memory_consolidate"), is_error=True)
        return ToolResult(
            f"Error getting consolidation recommendations: {delivery.error.message}",
            is_error=outcomes.is_infrastructure_failure(delivery.error),
        )
    data = expect(delivery.unwrap(), m.ToolData).data
    return ToolResult(recommendation_text(horizon, data))


def recommendation_text(horizon: str, data: dict[str, Any]) -> str:
    """12.4's recommendation (``consolidator.py``) printed as its handler prints it."""
    count = int(data["memory_count"])
    lines = [f"Consolidation Recommendations for {horizon} horizon:", ""]
    if count == 0:
        # 12.4's ``no_action`` result has a singular ``reason``, which the handler never prints.
        lines.extend(["Recommendation: NO_ACTION", "Memory Count: 0"])
        return "\n".join(lines)
    reasons = []
    if count > 1000:
        reasons.append("Consider running compression to reduce memory usage")
    if data["old_count"] > count * 0.5:
        reasons.append("Many old memories present - consider forgetting/archival")
    if count > 100 and horizon in ("weekly", "monthly"):
        reasons.append("Good candidate for association discovery")
    if not reasons:
        reasons.append("Memory state looks healthy")
    verdict = "consolidation_beneficial" if len(reasons) > 1 else "optional"
    lines.extend([f"Recommendation: {verdict.upper()}", f"Memory Count: {count}"])
    lines.extend(["", "Reasons:", *(f"  • {reason}" for reason in reasons)])
    lines.extend(["", "Memory Types:"])
    lines.extend(f"  {kind}: {n}" for kind, n in data["memory_types"].items())
    lines.append(f"\nTotal Size: {data['total_size_bytes'] / (1024 * 1024):.2f} MB")
    lines.append(f"Old Memory Percentage: {data['old_count'] / count * 100:.1f}%")
    lines.append(f"Estimated Duration: {count * 0.01:.1f} seconds")
    return "\n".join(lines)


def _string_list(value: object) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


async def merge(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    raw = args.get("content_hashes", [])
    hashes = _string_list(raw)
    if hashes is not None:
        hashes = list(dict.fromkeys(hashes))
    if not hashes or len(hashes) < 2:
        return ToolResult("Error: content_hashes must be an array with at least 2 hashes")
    content = args.get("merged_content", "")
    if not content or not isinstance(content, str) or not content.strip():
        return ToolResult("Error: merged_content is required and must be a non-empty string")
    tags = _string_list(args.get("tags")) or None
    memory_type = args.get("memory_type")
    memory_type = memory_type if isinstance(memory_type, str) and memory_type else None
    delivery = await daemon.call(
        m.ConsolidateMerge(
            id=0, content_hashes=hashes, merged_content=content, tags=tags, memory_type=memory_type
        )
    )
    error = delivery.error
    if error is None:
        return compact(expect(delivery.unwrap(), m.ToolData).data)
    if _old_daemon(error):
        return ToolResult(OLD_DAEMON.format(tool="memory_consolidate"), is_error=True)
    if isinstance(error, NotFound):
        text = f"Error: {error.message}"
        if delivery.ambiguous:
            text += (
                " (an earlier attempt of this merge may have been applied before the "
                "connection was lost; search for the merged content)"
            )
        return ToolResult(text)
    if isinstance(error, BadRequest | TooLarge):
        return ToolResult(f"Error: {error.message}")
    text = f"Error: failed to store merged memory: {error.message}"
    return ToolResult(text, is_error=outcomes.is_infrastructure_failure(error))
