"""What token-less connections holding incomplete HTTP request heads cost a daemon and its clients.

Usage::

    python bench/partial_heads.py --heads 1500 [--json out.json]

Starts a real ``memhub serve`` (hash embedder, a fresh database of 1,000 memories) and keeps one
authenticated client connected. Then, for each measurement, opens ``--heads`` TCP connections
that each send a request head without its closing blank line and then wait, and measures:

* the daemon's CPU (user + system, % of one core) over 3 s while the heads wait;
* the p50 and p99 of the connected client's searches (each on its own, for 3 s);
* how long new clients take to connect and say hello, one after another for 3 s (p50, max,
  and how many did not get in within 5 s);
* how many of the waiting connections the daemon closed during the measurement.

The same figures with no heads waiting come first, as the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from daemon_figures import make_text, start_daemon, stop  # noqa: E402

from memhub.discovery import RuntimeInfo  # noqa: E402
from memhub.protocol import messages as m  # noqa: E402
from memhub.transport.client import DaemonClient, open_daemon_client  # noqa: E402

WINDOW_S = 3.0
CONNECT_LIMIT_S = 5.0


def partial_head(port: int) -> bytes:
    """A websocket upgrade request that never ends (no blank line)."""
    return (
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        % port
    )


class Heads:
    """``count`` connections holding partial heads, each noting when the daemon closed it."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.count = count
        self.opened = 0
        self.closed_by_daemon = 0
        self.refused = 0

    async def hold(self, nursery: trio.Nursery) -> None:
        for _ in range(self.count):
            try:
                stream = await trio.open_tcp_stream("127.0.0.1", self.port)
                await stream.send_all(partial_head(self.port))
            except OSError:
                self.refused += 1
                continue
            self.opened += 1
            nursery.start_soon(self._wait, stream)

    async def _wait(self, stream: trio.SocketStream) -> None:
        try:
            while await stream.receive_some(4096):
                pass
            self.closed_by_daemon += 1
        except trio.BrokenResourceError:
            self.closed_by_daemon += 1
        finally:
            await trio.aclose_forcefully(stream)


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


async def daemon_cpu(proc: psutil.Process) -> float:
    before, started = cpu_seconds(proc), time.monotonic()
    await trio.sleep(WINDOW_S)
    return 100.0 * (cpu_seconds(proc) - before) / (time.monotonic() - started)


async def search_latencies(client: DaemonClient) -> list[float]:
    found: list[float] = []
    deadline = time.monotonic() + WINDOW_S
    i = 0
    while time.monotonic() < deadline:
        started = time.perf_counter()
        await client.call(m.Search(id=0, query=f"cluster latency budget {i}", limit=5))
        found.append((time.perf_counter() - started) * 1000)
        i += 1
    return found


async def connect_times(info: RuntimeInfo) -> tuple[list[float], int]:
    times: list[float] = []
    failed = 0
    deadline = time.monotonic() + WINDOW_S
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            with trio.fail_after(CONNECT_LIMIT_S):
                async with open_daemon_client(
                    info.url, info.token, client_name="newcomer", connect_timeout=CONNECT_LIMIT_S
                ):
                    times.append((time.perf_counter() - started) * 1000)
        except Exception:
            failed += 1
    return times, failed


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
        "max_ms": round(ordered[-1], 2),
    }


async def measure(
    info: RuntimeInfo, proc: psutil.Process, client: DaemonClient, heads: int
) -> dict[str, Any]:
    result: dict[str, Any] = {"heads": heads}
    for phase in ("cpu", "search", "connect"):
        async with trio.open_nursery() as nursery:
            held = Heads(info.port, heads)
            await held.hold(nursery)
            await trio.sleep(0.5)  # let the daemon settle into waiting
            if phase == "cpu":
                result["daemon_cpu_percent"] = round(await daemon_cpu(proc), 1)
            elif phase == "search":
                result["search"] = summary(await search_latencies(client))
            else:
                times, failed = await connect_times(info)
                result["new_client_connect"] = {**summary(times), "failed": failed}
            result.setdefault("heads_opened", []).append(held.opened)
            result.setdefault("heads_refused_at_connect", []).append(held.refused)
            result.setdefault("heads_closed_by_daemon", []).append(held.closed_by_daemon)
            nursery.cancel_scope.cancel()
        await trio.sleep(1.0)
    return result


async def run(heads: int) -> dict[str, Any]:
    db = Path(tempfile.mkdtemp()) / "heads.db"
    daemon, info = start_daemon(db, "hash")
    try:
        proc = psutil.Process(daemon.pid)
        async with open_daemon_client(info.url, info.token, client_name="bench") as client:
            import random

            rng = random.Random(1)
            for i in range(1000):
                await client.call(m.Store(id=0, content=make_text(rng, i)))
            baseline = await measure(info, proc, client, 0)
            loaded = await measure(info, proc, client, heads)
        return {"baseline": baseline, "loaded": loaded, "cores": os.cpu_count()}
    finally:
        stop(daemon)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heads", type=int, default=1500)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    figures = trio.run(run, args.heads)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
