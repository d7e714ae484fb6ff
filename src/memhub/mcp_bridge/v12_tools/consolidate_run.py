"""``memory_consolidate run``: 12.4's settings from the bridge's environment, its report text.

12.4 reads its consolidation settings from the server's environment (``config/consolidation.py``
and its neighbours); memhub's bridge is where an app's environment lives, so the bridge reads
them, with 12.4's names and defaults, and sends them with the request. The daemon runs the
pipeline (:mod:`memhub.extras.consolidation_run`), one run at a time per store.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from memhub.config import base_dir
from memhub.consolidation.clustering import ClusteringUnavailable, resolve
from memhub.consolidation.decay import RETENTION
from memhub.errors import BadRequest
from memhub.mcp_bridge import outcomes
from memhub.mcp_bridge.calls import ToolResult, expect
from memhub.mcp_bridge.v12_tools.dispatch import OLD_DAEMON
from memhub.protocol import messages as m

if TYPE_CHECKING:
    from memhub.mcp_bridge.calls import Daemon

HORIZONS: Final = ("daily", "weekly", "monthly", "quarterly", "yearly")
INVALID: Final = (
    "Error: Invalid time_horizon. Must be one of: daily, weekly, monthly, quarterly, yearly, "
    "incremental"
)
BUSY: Final = (
    "Error during consolidation: a consolidation run is already in progress for this store "
    "({horizon}, asked by {client} at {since}); nothing was started. Run it again when that "
    "one has finished."
)
BUSY_ELSEWHERE: Final = (
    "Error during consolidation: a consolidation run is already in progress for this store "
    "(by another machine's daemon); nothing was started. Run it again when that one has "
    "finished."
)
#: This bridge process's totals, as 12.4's status prints its consolidator's (in-process).
STATS: Final = {
    "total_runs": 0,
    "successful_runs": 0,
    "total_memories_processed": 0,
    "total_associations_created": 0,
    "total_clusters_created": 0,
    "total_memories_compressed": 0,
    "total_memories_archived": 0,
}


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    return default if raw is None else raw.lower() == "true"


def _int(env: Mapping[str, str], name: str, default: int, low: int = 0, high: int = 10**9) -> int:
    """12.4's ``safe_get_int_env``: unset, unreadable or out of range gives the default."""
    try:
        value = int(env.get(name) or default)
    except ValueError:
        return default
    return value if low <= value <= high else default


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        return float(env.get(name) or default)
    except ValueError:
        return default


def archive_path(env: Mapping[str, str]) -> str:
    """12.4's ``CONSOLIDATION_ARCHIVE_PATH``: the first of ``MCP_CONSOLIDATION_ARCHIVE_PATH``
    and ``MCP_MEMORY_ARCHIVE_PATH``, else ``<BASE_DIR>/consolidation_archive``."""
    for name in ("MCP_CONSOLIDATION_ARCHIVE_PATH", "MCP_MEMORY_ARCHIVE_PATH"):
        if raw := env.get(name):
            return os.path.abspath(Path(raw).expanduser())
    return os.path.abspath(base_dir(env) / "consolidation_archive")


def settings_from_env(env: Mapping[str, str] | None = None) -> m.ConsolidationSettings:
    e = os.environ if env is None else env
    factor = _float(e, "MCP_CONSOLIDATION_QUALITY_BOOST_FACTOR", 1.2)
    return m.ConsolidationSettings(
        decay_enabled=_flag(e, "MCP_DECAY_ENABLED", True),
        associations_enabled=_flag(e, "MCP_ASSOCIATIONS_ENABLED", True),
        min_similarity=_float(e, "MCP_ASSOCIATION_MIN_SIMILARITY", 0.3),
        max_similarity=_float(e, "MCP_ASSOCIATION_MAX_SIMILARITY", 0.7),
        max_pairs=_int(e, "MCP_ASSOCIATION_MAX_PAIRS", 1000, 0, 100_000),
        clustering_enabled=_flag(e, "MCP_CLUSTERING_ENABLED", True),
        min_cluster_size=_int(e, "MCP_CLUSTERING_MIN_SIZE", 5, 1),
        clustering_algorithm=e.get("MCP_CLUSTERING_ALGORITHM", "auto"),
        compression_enabled=_flag(e, "MCP_COMPRESSION_ENABLED", True),
        max_summary_length=_int(e, "MCP_COMPRESSION_MAX_LENGTH", 500, 4),
        forgetting_enabled=_flag(e, "MCP_FORGETTING_ENABLED", True),
        relevance_threshold=_float(e, "MCP_FORGETTING_RELEVANCE_THRESHOLD", 0.1),
        forgetting_min_age_days=_int(e, "MCP_FORGETTING_MIN_AGE_DAYS", 365),
        batch_size=_int(e, "MCP_CONSOLIDATION_BATCH_SIZE", 500, 1, 10_000),
        incremental_mode=_flag(e, "MCP_CONSOLIDATION_INCREMENTAL", True),
        retention={kind: _retention(e, kind, days) for kind, days in RETENTION.items()},
        quality_boost_enabled=_flag(e, "MCP_CONSOLIDATION_QUALITY_BOOST_ENABLED", True),
        quality_boost_min_connections=_int(
            e, "MCP_CONSOLIDATION_MIN_CONNECTIONS_FOR_BOOST", 5, 1, 100
        ),
        quality_boost_factor=factor if 1.0 <= factor <= 2.0 else 1.2,
        retention_high=_int(e, "MCP_QUALITY_RETENTION_HIGH", 365, 1, 3650),
        retention_medium=_int(e, "MCP_QUALITY_RETENTION_MEDIUM", 180, 1, 3650),
        retention_low_min=_int(e, "MCP_QUALITY_RETENTION_LOW_MIN", 30, 1, 365),
        retention_low_max=_int(e, "MCP_QUALITY_RETENTION_LOW_MAX", 90, 1, 365),
        typed_edges=_flag(e, "MCP_TYPED_EDGES_ENABLED", True),
        association_memories=_graph_mode(e) in ("memories_only", "dual_write")
        and _flag(e, "MCP_CONSOLIDATION_STORE_ASSOCIATIONS", True),
        association_edges=_graph_mode(e) in ("dual_write", "graph_only"),
        archive_path=archive_path(e),
    )


def _retention(env: Mapping[str, str], kind: str, days: int) -> int:
    return _int(env, f"MCP_RETENTION_{kind.upper()}", days, 1, 365 if kind == "temporary" else 3650)


def _graph_mode(env: Mapping[str, str]) -> str:
    mode = env.get("MCP_GRAPH_STORAGE_MODE", "dual_write").lower()
    return mode if mode in ("memories_only", "dual_write", "graph_only") else "dual_write"


def report_text(data: dict[str, Any]) -> str:
    text = (
        "Consolidation completed successfully!\n\n"
        f"Time Horizon: {data['time_horizon']}\n"
        f"Duration: {float(data['duration']):.2f} seconds\n"
        f"Memories Processed: {data['memories_processed']}\n"
        f"Associations Discovered: {data['associations_discovered']}\n"
        f"Clusters Created: {data['clusters_created']}\n"
        f"Memories Compressed: {data['memories_compressed']}\n"
        f"Memories Archived: {data['memories_archived']}"
    )
    if data["errors"]:
        text += "\n\nWarnings/Errors:\n" + "\n".join(f"- {e}" for e in data["errors"])
    return text


def count(data: dict[str, Any]) -> None:
    """12.4's ``_update_consolidation_stats`` (runs that processed something)."""
    if not data["memories_processed"]:
        return
    STATS["total_runs"] += 1
    STATS["successful_runs"] += 0 if data["errors"] else 1
    STATS["total_memories_processed"] += data["memories_processed"]
    STATS["total_associations_created"] += data["associations_discovered"]
    STATS["total_clusters_created"] += data["clusters_created"]
    STATS["total_memories_compressed"] += data["memories_compressed"]
    STATS["total_memories_archived"] += data["memories_archived"]


async def run(daemon: Daemon, horizon: object) -> ToolResult:
    if horizon == "incremental":
        # 12.4's handler takes it, but its MCP schema does not offer it (the SDK refuses it).
        return ToolResult(
            "Error during consolidation: memhub runs the named horizons (daily, weekly, "
            "monthly, quarterly, yearly), not 12.4's incremental one"
        )
    if not isinstance(horizon, str) or horizon not in HORIZONS:
        return ToolResult(INVALID)
    settings = settings_from_env()
    try:
        resolve(settings.clustering_algorithm)
    except ClusteringUnavailable as exc:
        # 12.4 cannot build its consolidator then; it logs why and answers this.
        return ToolResult(f"Error: Consolidation system not available ({exc})")
    delivery = await daemon.call(m.ConsolidateRun(id=0, horizon=horizon, settings=settings))
    error = delivery.error
    if isinstance(error, BadRequest) and error.message.startswith("unknown message type"):
        return ToolResult(OLD_DAEMON.format(tool="memory_consolidate"), is_error=True)
    if delivery.error is not None:
        text = f"Error during consolidation: {delivery.error.message}"
        if delivery.ambiguous:
            text += " (the connection was lost: the run may have gone on; run it again)"
        return ToolResult(text, is_error=outcomes.is_infrastructure_failure(delivery.error))
    data = expect(delivery.unwrap(), m.ToolData).data
    if data.get("busy") and data.get("horizon") is None:
        return ToolResult(BUSY_ELSEWHERE)
    if data.get("busy"):
        return ToolResult(BUSY.format(horizon=data["horizon"], client=data["client"] or "a client",
                                      since=data["since"]))  # fmt: skip
    count(data)
    return ToolResult(report_text(data))
