"""``memory_quality``: 12.4's rate, get, analyze, maintain and maintain_status.

Ratings and statistics run in the daemon (:mod:`memhub.extras.quality`): a rating is one
read-modify-write of the memory's metadata in the single writer, ``analyze`` one SQL
aggregation. The bridge checks the arguments as 12.4's handler does and prints 12.4's texts.

``maintain`` runs 12.4's local, deterministic steps (duplicates, conflicts, stale count,
quality snapshot, regex entities). The steps 12.4 runs only when opted in and memhub does not
(insight cards, embedding-band contradiction detection) are reported as errors of the run when
their switch is on, never as a fake result. Like 12.4, the last report is kept in this process
only (``maintain_status``).
"""

from __future__ import annotations

import json
import math
import os
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from memhub.errors import BadRequest, NotFound, ServiceError
from memhub.mcp_bridge import outcomes
from memhub.mcp_bridge.calls import ToolResult, expect
from memhub.mcp_bridge.v12_tools.dispatch import OLD_DAEMON
from memhub.mcp_bridge.v12_tools.texts import as_json
from memhub.protocol import messages as m
from memhub.storage.quality import metrics

if TYPE_CHECKING:
    from collections.abc import Mapping

    from memhub.mcp_bridge.calls import Daemon

ACTIONS: Final = ("rate", "get", "analyze", "maintain", "maintain_status")
RATING_TEXT: Final = {-1: "thumbs down", 0: "neutral", 1: "thumbs up"}
RATING_ICON: Final = {-1: "👎 thumbs down", 0: "😐 neutral", 1: "👍 thumbs up"}
TRUE: Final = frozenset({"true", "1", "yes", "on", "enabled"})
FALSE: Final = frozenset({"false", "0", "no", "off", "disabled"})
NO_INSIGHTS: Final = (
    "memhub does not generate insight cards (MCP_INSIGHT_CARDS_ENABLED is set); "
    "nothing was generated"
)
NO_CONTRADICTIONS: Final = (
    "memhub does not run 12.4's embedding-band contradiction detection "
    "(MCP_CONTRADICTION_DETECTION_ENABLED is set); nothing was detected or marked"
)

#: What stands for an unbounded range bound on the wire (JSON has no infinity).
FAR: Final = 1e308

_last_maintain_run: dict[str, Any] = {}


def _failure(exc: ServiceError, text: str) -> ToolResult:
    if isinstance(exc, BadRequest) and exc.message.startswith("unknown message type"):
        return ToolResult(OLD_DAEMON.format(tool="memory_quality"), is_error=True)
    return ToolResult(text, is_error=outcomes.is_infrastructure_failure(exc))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _score_text(value: object) -> str:
    return f"{value:.3f}" if _is_number(value) else str(value)


async def quality(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    action = args.get("action")
    if not action:
        return ToolResult("Error: action parameter is required")
    if action not in ACTIONS:
        return ToolResult(f"Error: Invalid action '{action}'. Must be one of: {', '.join(ACTIONS)}")
    if action in ("rate", "get") and not args.get("content_hash"):
        return ToolResult(f"Error: content_hash is required for '{action}' action")
    match action:
        case "rate":
            return await rate(daemon, args)
        case "get":
            return await get(daemon, str(args["content_hash"]))
        case "analyze":
            return await analyze(daemon, args.get("min_quality", 0.0), args.get("max_quality", 1.0))
        case "maintain":
            return await maintain(daemon, args.get("dry_run", True))
    if not _last_maintain_run:
        return ToolResult(json.dumps({"status": "never_run"}))
    return ToolResult(as_json(_last_maintain_run))


def _rating(value: object) -> int | str:
    """12.4's reading of ``rating``: the value, or its error text."""
    if value is None:
        return "Error: rating is required"
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            return "Error: rating must be '-1', '0', or '1'"
    if not _is_number(value) or value not in (-1, 0, 1):
        return "Error: rating must be -1, 0, or 1"
    return int(value)


async def rate(daemon: Daemon, args: dict[str, Any]) -> ToolResult:
    target = str(args["content_hash"])
    rating = _rating(args.get("rating"))
    if isinstance(rating, str):
        return ToolResult(rating)
    feedback = args.get("feedback", "")
    feedback = feedback if isinstance(feedback, str) else str(feedback)
    delivery = await daemon.call(
        m.QualityRate(id=0, content_hash=target, rating=rating, feedback=feedback)
    )
    if isinstance(delivery.error, NotFound):
        return ToolResult(f"Error: Memory not found with hash: {target}")
    if delivery.error is not None:
        return _failure(delivery.error, f"Error updating memory: {delivery.error.message}")
    data = expect(delivery.unwrap(), m.ToolData).data
    lines = [
        f"✅ Memory rated successfully: {RATING_TEXT[rating]}",
        f"Content hash: {target}",
        f"New quality score: {data['new_score']:.3f} (was {data['old_score']:.3f})",
    ]
    if feedback:
        lines.append(f"Feedback: {feedback}")
    return ToolResult("\n".join(lines))


async def get(daemon: Daemon, target: str) -> ToolResult:
    delivery = await daemon.call(m.Get(id=0, content_hash=target))
    if isinstance(delivery.error, NotFound):
        return ToolResult(f"Error: Memory not found with hash: {target}")
    if delivery.error is not None:
        return _failure(delivery.error, f"Error retrieving memory: {delivery.error.message}")
    meta = expect(delivery.unwrap(), m.Found).memory.metadata
    data = metrics(target, meta)
    lines = [
        f"🔍 Quality Metrics for Memory: {target}",
        "",
        f"Quality Score: {_score_text(data['quality_score'])} / 1.0",
        f"Quality Provider: {data['quality_provider']}",
        f"Access Count: {data['access_count']}",
    ]
    accessed = data["last_accessed_at"]
    if accessed and _is_number(accessed) and math.isfinite(accessed):
        shown = datetime.fromtimestamp(accessed).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(f"Last Accessed: {shown}")
    rating = data["user_rating"]
    if rating is not None:
        lines.append(f"User Rating: {RATING_ICON.get(rating, str(rating))}")
        if data["user_feedback"]:
            lines.append(f"User Feedback: {data['user_feedback']}")
    scores = data["ai_scores"]
    if scores and isinstance(scores, list):
        lines.append(f"\nAI Score History ({len(scores)} evaluations):")
        for i, entry in enumerate(scores[-5:], 1):
            entry = entry if isinstance(entry, dict) else {}
            score = entry.get("score", 0.0)
            lines.append(
                f"  {i}. {_score_text(score)} (provider: {entry.get('provider', 'unknown')})"
            )
    lines.append("\n📊 Full JSON Data:")
    lines.append(json.dumps(data, indent=2))
    return ToolResult("\n".join(lines))


def _preview(content: str) -> str:
    return content[:60] + "..." if len(content) > 60 else content


def _pct(n: int, total: int) -> str:
    return f"{n / total * 100:.1f}%"


def _bound(value: object) -> float:
    """A range bound as a finite float (an integer past float's range is as good as infinite)."""
    assert isinstance(value, int | float)
    try:
        number = float(value)
    except OverflowError:
        number = math.inf if value > 0 else -math.inf
    return max(-FAR, min(FAR, number))


async def analyze(daemon: Daemon, low: object, high: object) -> ToolResult:
    if not _is_number(low) or not _is_number(high):
        return ToolResult(
            "Error analyzing quality distribution: min_quality and max_quality must be numbers"
        )
    delivery = await daemon.call(
        m.QualityAnalyze(id=0, min_quality=_bound(low), max_quality=_bound(high))
    )
    if delivery.error is not None:
        return _failure(
            delivery.error,
            "Error: Unable to retrieve all memories from storage backend: "
            f"{delivery.error.message}",
        )
    d = expect(delivery.unwrap(), m.ToolData).data
    if not d["store_total"]:
        return ToolResult("No memories found in database")
    total = d["total"]
    if not total:
        return ToolResult(f"No memories found with quality score between {low} and {high}")
    providers = [(str(p), int(n)) for p, n in d["providers"]]
    lines = [
        "📊 Quality Score Distribution Analysis",
        "=" * 50,
        f"Total Memories: {total}",
        f"Average Quality Score: {d['average']:.3f}",
        "",
        "Distribution by Tier:",
        f"  🟢 High Quality (≥0.7): {d['high']} ({_pct(d['high'], total)})",
        f"  🟡 Medium Quality (0.5-0.7): {d['medium']} ({_pct(d['medium'], total)})",
        f"  🔴 Low Quality (<0.5): {d['low']} ({_pct(d['low'], total)})",
        "",
        "Provider Breakdown:",
    ]
    for provider, count in sorted(providers, key=lambda pc: pc[1], reverse=True):
        lines.append(f"  {provider}: {count} ({_pct(count, total)})")
    lines += ["", "🏆 Top 10 Highest Quality Memories:"]
    for i, row in enumerate(d["top"], 1):
        lines.append(f"  {i}. Score: {row['score']:.3f} - {_preview(row['content'])}")
    lines += ["", "⚠️  Bottom 10 Lowest Quality Memories:"]
    for i, row in enumerate(d["bottom"], 1):
        lines.append(f"  {i}. Score: {row['score']:.3f} - {_preview(row['content'])}")
    summary = {
        "total_memories": total,
        "high_quality_count": d["high"],
        "medium_quality_count": d["medium"],
        "low_quality_count": d["low"],
        "average_score": round(d["average"], 3),
        "provider_breakdown": dict(providers),
        "quality_range": {"min": low, "max": high},
    }
    lines += ["", "📋 JSON Summary:", json.dumps(summary, indent=2)]
    return ToolResult("\n".join(lines))


def env_int(env: Mapping[str, str], name: str, default: int, low: int, high: int | None) -> int:
    """12.4's ``safe_get_int_env``: unset, unparsable or out of range reads the default."""
    raw = env.get(name, "")
    try:
        value = int(raw) if raw else default
    except ValueError:
        return default
    return value if low <= value and (high is None or value <= high) else default


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    return True if raw in TRUE else False if raw in FALSE else default


def env_float(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        return float(env.get(name, default))
    except ValueError:
        return default


async def maintain(
    daemon: Daemon, dry_run: object, environ: Mapping[str, str] | None = None
) -> ToolResult:
    global _last_maintain_run
    env = os.environ if environ is None else environ
    stale_days = env_int(env, "MCP_MAINTAIN_STALE_DAYS", 30, 1, 3650)
    auto_resolve = env_bool(env, "MCP_MAINTAIN_AUTO_RESOLVE", False)
    threshold = env_float(env, "MCP_MAINTAIN_AUTO_RESOLVE_THRESHOLD", 0.95)
    age_days = env_int(env, "MCP_MAINTAIN_AUTO_RESOLVE_AGE_DAYS", 7, 0, 365)
    config = {
        "stale_days": stale_days,
        "auto_resolve": auto_resolve,
        "auto_resolve_threshold": threshold,
        "auto_resolve_age_days": age_days,
    }
    start = time.time()
    report: dict[str, Any] = {
        "action": "maintain",
        "dry_run": dry_run,
        "started_at": datetime.now(UTC).isoformat(),
        "config": config,
        "steps": {},
        "errors": [],
    }
    terms = [t.strip() for t in env.get("MCP_ENTITY_CUSTOM_TERMS", "").split(",") if t.strip()]
    delivery = await daemon.call(
        m.QualityMaintain(
            id=0,
            dry_run=bool(dry_run),
            stale_days=stale_days,
            auto_resolve=auto_resolve,
            auto_resolve_threshold=threshold,
            auto_resolve_age_days=float(age_days),
            scan_limit=env_int(env, "MCP_MAINTAIN_SCAN_LIMIT", 2000, 0, None),
            custom_terms=terms,
        )
    )
    if delivery.error is not None:
        exc = delivery.error
        return _failure(exc, f"Error in memory_quality action 'maintain': {exc.message}")
    done = expect(delivery.unwrap(), m.ToolData).data
    report["steps"].update(done["steps"])
    report["errors"].extend(done["errors"])
    if env_bool(env, "MCP_INSIGHT_CARDS_ENABLED", False):
        report["steps"]["insights"] = {"error": NO_INSIGHTS}
        report["errors"].append(f"insights: {NO_INSIGHTS}")
    else:
        report["steps"]["insights"] = {
            "skipped": True,
            "reason": "MCP_INSIGHT_CARDS_ENABLED=false",
        }
    if env.get("MCP_CONTRADICTION_DETECTION_ENABLED", "false").lower() == "true":
        report["steps"]["contradictions"] = {"error": NO_CONTRADICTIONS}
        report["errors"].append(f"contradictions: {NO_CONTRADICTIONS}")
    else:
        report["steps"]["contradictions"] = {
            "skipped": True,
            "reason": "MCP_CONTRADICTION_DETECTION_ENABLED=false",
        }
    report["elapsed_seconds"] = round(time.time() - start, 2)
    report["completed_at"] = datetime.now(UTC).isoformat()
    report["success"] = not report["errors"]
    _last_maintain_run = report
    return ToolResult(as_json(report))
