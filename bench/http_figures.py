"""HTTP endpoint figures for docs/benchmarks.md, each measured side by side in one run.

Usage::

    python bench/http_figures.py rest --n 200     # REST store/search: memhub vs MMS 12.4 HTTP
    python bench/http_figures.py mcp --n 200      # a tool call: HTTP MCP session vs a bridge
    python bench/http_figures.py rss --clients 8  # daemon + 8 HTTP sessions vs daemon + 8 bridges
    python bench/http_figures.py all

Both sides run the real embedding model (memhub: onnxruntime; MMS: sentence-transformers) on
fresh databases, one client sending one request at a time over a kept-alive connection, with
distinct texts (no query-cache hits). ``rest`` needs MMS 12.4.0's virtualenv
(``tests/compat/mms_env.py`` builds it once). RSS is the sum over the server-side processes
(the daemon, plus the bridges where there are bridges), sampled with psutil after every client
has made a call.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
import psutil
import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.daemon.helpers import running_daemon  # noqa: E402
from tests.http.helpers import http_daemon  # noqa: E402
from tests.http.mcp_clients import http_session, stdio_session  # noqa: E402
from tests.http.mms_http import mms_http_server  # noqa: E402
from tests.mcp_bridge.e2e import cleanup_daemons, serve_processes  # noqa: E402

KEY = "bench-key-0123456789"
MODEL = {"MEMHUB_EMBEDDER": "model", "MCP_API_KEY": KEY}


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2),
        "n": len(ordered),
    }


def _rest_run(url: str, n: int, label: str) -> dict[str, Any]:
    stores, searches = [], []
    with httpx2.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120) as c:
        for i in range(5):  # warm-up: model, caches, connection
            c.post("/api/memories", json={"content": f"{label} warm-up memory {i}"})
            c.post("/api/search", json={"query": f"warm-up query {i}"})
        for i in range(n):
            began = time.perf_counter()
            reply = c.post(
                "/api/memories",
                json={"content": f"{label} memory {i}: the deploy of build {i * 7} went fine",
                      "tags": ["bench"]},
            )  # fmt: skip
            stores.append(time.perf_counter() - began)
            assert reply.json()["success"] is True, reply.text
        for i in range(n):
            began = time.perf_counter()
            reply = c.post("/api/search", json={"query": f"how did deploy {i} go", "n_results": 5})
            searches.append(time.perf_counter() - began)
            assert reply.status_code == 200, reply.text
    return {"store": _ms(stores), "search": _ms(searches)}


def rest(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "memhub").mkdir()
        (work / "mms").mkdir()
        with http_daemon(work / "memhub" / "sqlite_vec.db", MODEL) as daemon:
            ours = _rest_run(daemon.url, n, "memhub")
        with mms_http_server(work / "mms", KEY) as url:
            theirs = _rest_run(url, n, "mms")
    return {"memhub": ours, "mcp-memory-service 12.4.0": theirs}


async def _tool_calls(session: Any, n: int, label: str) -> dict[str, Any]:
    for i in range(5):
        await session.call_tool("memory_search", {"query": f"warm-up {label} {i}"})
    stores, searches = [], []
    for i in range(n):
        began = time.perf_counter()
        await session.call_tool("memory_store", {"content": f"{label} note {i} about build {i}"})
        stores.append(time.perf_counter() - began)
    for i in range(n):
        began = time.perf_counter()
        await session.call_tool("memory_search", {"query": f"{label} build {i} status"})
        searches.append(time.perf_counter() - began)
    return {"memory_store": _ms(stores), "memory_search": _ms(searches)}


def mcp(n: int) -> dict[str, Any]:
    async def main(db: Path, url: str) -> dict[str, Any]:
        async with http_session(url, KEY, "bench-http") as session:
            over_http = await _tool_calls(session, n, "http")
        async with stdio_session(db, "bench-bridge") as session:
            through_bridge = await _tool_calls(session, n, "bridge")
        return {"HTTP MCP session (/mcp)": over_http, "stdio bridge": through_bridge}

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "sqlite_vec.db"
        try:
            with http_daemon(db, MODEL) as daemon:
                return trio.run(main, db, daemon.url)
        finally:
            cleanup_daemons(db)


def _rss_mb(pids: list[int]) -> float:
    return float(round(sum(psutil.Process(p).memory_info().rss for p in pids) / 2**20, 1))


def rss(clients: int) -> dict[str, Any]:
    async def hold_http(url: str, done: trio.Event, ready: trio.Semaphore, i: int) -> None:
        async with http_session(url, KEY, f"rss-http-{i}") as session:
            await session.call_tool("memory_store", {"content": f"http client {i} was here"})
            ready.release()
            await done.wait()

    async def hold_bridge(db: Path, done: trio.Event, ready: trio.Semaphore, i: int) -> None:
        async with stdio_session(db, f"rss-bridge-{i}") as session:
            await session.call_tool("memory_store", {"content": f"bridge client {i} was here"})
            ready.release()
            await done.wait()

    async def measure(db: Path, url: str, daemon_pid: int, bridges: bool) -> float:
        done, ready = trio.Event(), trio.Semaphore(0)
        async with trio.open_nursery() as nursery:
            for i in range(clients):
                if bridges:
                    nursery.start_soon(hold_bridge, db, done, ready, i)
                else:
                    nursery.start_soon(hold_http, url, done, ready, i)
            for _ in range(clients):
                await ready.acquire()
            await trio.sleep(1.0)  # let allocations settle before sampling
            pids = [daemon_pid]
            if bridges:
                me = psutil.Process()
                # The bridge processes themselves (the tests' exit recorder that wraps each one
                # is not part of what an app runs).
                pids += [p.pid for p in me.children(recursive=True) if "bridge" in p.cmdline()]
                assert len(pids) == clients + 1, pids
            value: float = _rss_mb(pids)
            done.set()
        return value

    results = {}
    for bridges in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "sqlite_vec.db"
            try:
                if bridges:
                    # The daemon as bridges use it: no HTTP endpoint (nothing of it imported).
                    with running_daemon(db, MODEL) as (_, info):
                        value = trio.run(measure, db, "", info.pid, True)
                    results[f"daemon (no HTTP) + {clients} bridges"] = {"rss_mb": value}
                else:
                    with http_daemon(db, MODEL) as daemon:
                        value = trio.run(measure, db, daemon.url, daemon.info.pid, False)
                    results[f"daemon serving {clients} HTTP MCP sessions"] = {"rss_mb": value}
            finally:
                cleanup_daemons(db)
                assert not serve_processes(db)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("rest", "mcp", "rss", "all"))
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    # One JSON document per figure, printed as soon as it is measured.
    if args.what in ("rest", "all"):
        print(json.dumps({"rest": rest(args.n)}, indent=2), flush=True)
    if args.what in ("mcp", "all"):
        print(json.dumps({"mcp": mcp(args.n)}, indent=2), flush=True)
    if args.what in ("rss", "all"):
        print(json.dumps({"rss": rss(args.clients)}, indent=2), flush=True)


if __name__ == "__main__":
    main()
