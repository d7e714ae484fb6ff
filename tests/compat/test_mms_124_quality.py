"""``memory_quality`` on one file shared with mcp-memory-service 12.4.0, both ways.

12.4 rates some memories with its own handler, memhub rates others through its daemon; then
each side's ``get`` and ``analyze`` texts must be the same for every memory, whoever rated it
(``mms_quality_driver.py`` runs 12.4's handler).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio

from memhub.mcp_bridge.calls import BridgeStats, Delivery
from memhub.mcp_bridge.v12_tools import quality
from memhub.protocol import messages as m
from memhub.transport.client import open_daemon_client
from tests.daemon.helpers import assert_consistent, daemon_process

from .mms_env import run_driver

pytestmark = [pytest.mark.compat, pytest.mark.slow]

VERSION = "12.4.0"
DRIVER = Path(__file__).with_name("mms_quality_driver.py")
CONTENTS = [
    "the deploy checklist lives in the ops wiki, ask @dana (see docs/deploy.md)",
    "postgres backups run nightly at two #backups https://example.com/runbook",
    "the staging cluster is shared with QA",
    "rotate the API keys every ninety days",
]


def run_124(db: Path, ops: list[dict[str, Any]], work: Path) -> list[Any]:
    result: list[Any] = run_driver(DRIVER, {"db": str(db), "ops": ops}, work, version=VERSION)
    return result


class ClientDaemon:
    """The bridge's view of the daemon, over a plain protocol client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def call(self, request: m.Request) -> Delivery:
        try:
            return Delivery(reply=await self.client.call(request))
        except Exception as exc:  # the client raises the daemon's error
            from memhub.errors import ServiceError

            if isinstance(exc, ServiceError):
                return Delivery(error=exc)
            raise

    def statistics(self) -> BridgeStats:
        return BridgeStats(tool_calls=0, connects=1, connect_times_ms=())


async def memhub_side(db: Path, rate: list[tuple[str, str]], read: list[str]) -> list[str]:
    texts: list[str] = []
    async with daemon_process(db, {"MEMHUB_EMBEDDER": "model"}) as (_, info):
        async with open_daemon_client(f"ws://{info.host}:{info.port}", info.token) as client:
            daemon = ClientDaemon(client)
            for h, rating in rate:
                args = {"action": "rate", "content_hash": h, "rating": rating}
                assert (await quality.quality(daemon, args)).text.startswith("✅")
            for h in read:
                args = {"action": "get", "content_hash": h}
                texts.append((await quality.quality(daemon, args)).text)
            texts.append((await quality.quality(daemon, {"action": "analyze"})).text)
            texts.append((await quality.quality(daemon, {"action": "maintain"})).text)
    return texts


def test_ratings_read_the_same_on_both_sides(tmp_path: Path) -> None:
    db = tmp_path / "sqlite_vec.db"
    stores = [{"op": "store", "content": c, "metadata": {"source": "compat"}} for c in CONTENTS]
    hashes = run_124(db, stores, tmp_path)
    rate = {"action": "rate", "content_hash": hashes[0], "rating": "1", "feedback": "from 12.4"}
    [rated] = run_124(db, [{"op": "quality", "arguments": rate}], tmp_path)
    assert rated.startswith("✅ Memory rated successfully: thumbs up")

    # memhub rates two more (one of them twice), then reads every one and the distribution
    ours = trio.run(
        memhub_side, db, [(hashes[1], "-1"), (hashes[2], "0"), (hashes[1], "1")], hashes
    )
    reads = [{"op": "quality", "arguments": {"action": "get", "content_hash": h}} for h in hashes]
    reads.append({"op": "quality", "arguments": {"action": "analyze"}})
    reads.append({"op": "quality", "arguments": {"action": "maintain"}})
    from_124 = run_124(db, reads, tmp_path)
    assert len(from_124) == len(ours) == 6
    for mine, upstream in zip(ours[:-1], from_124[:-1], strict=True):
        assert mine == upstream
    # the dry-run maintain reports the same steps (times aside)
    mine, upstream = json.loads(ours[-1]), json.loads(from_124[-1])
    assert list(mine) == list(upstream)
    for key in ("action", "dry_run", "config", "steps", "errors", "success"):
        assert mine[key] == upstream[key], key
    assert mine["steps"]["entities"]["entities_found"] > len(CONTENTS)
    assert "Total Memories: 4\n" in ours[-2]
    assert_consistent(db)
