"""Where a search's time goes between an MCP client and the engine: one layer at a time.

Usage::

    python bench/hops.py --size 1000 --queries 150 [--embedder hash|model] [--json out.json]

One daemon (``memhub serve``), one bridge (``memhub bridge`` under a real MCP SDK client) and
the engine in this process, on one database; every round runs each probe once, in a shuffled
order, so host noise hits them alike. Each probe adds one layer to the one before:

============== ==============================================================================
probe          what it runs
============== ==============================================================================
engine_embed   ``embedder.encode([query])`` in this process
engine_embed_thread  the same through ``trio.to_thread.run_sync`` (as the daemon's embedder does)
engine_search  ``semantic_search`` in one read transaction in this process (no embedding)
engine_exact   ``exact_search`` (a LIKE scan) in this process
ws_ping        ``Unsubscribe`` over the websocket: codec + websocket + the daemon's trio loop,
               answered by the transport without touching the service
ws_ping_bare   the same frame from a bare trio-websocket client (no memhub client layer)
ws_exact       ``Search(mode=exact)``: the above + service + one reader thread hop
ws_search      ``Search``: the above + the embedder actor's thread hop + the embedding
mcp_ping       MCP ``ping`` through the bridge: stdio + JSON-RPC + the SDK, no daemon
mcp_search     ``memory_search`` through the bridge: everything
============== ==============================================================================

The micro part times, in this process: the codec's encode + decode of a 10-hit SearchResult,
a ``trio.to_thread.run_sync`` round trip with a hot worker thread and after the thread has been
idle, and the bridge's formatting of a 10-hit result. The floors part times a 300-byte round
trip to a bare trio TCP echo process and a bare trio-websocket echo process, back to back and
after 5 ms idle: what any cross-process transport pays on this host. The thread-layout part
runs embed + search in this process as the daemon does (two worker-thread hops), on one worker
thread, and with the search on the event loop.
"""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import contextlib
import json
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio
from mcp import Client, StdioServerParameters
from trio_websocket import (
    ConnectionClosed,
    WebSocketRequest,
    open_websocket_url,
    serve_websocket,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from daemon_figures import WORDS, fill, start_daemon, stop  # noqa: E402
from inprocess import readonly_snapshot  # noqa: E402

from memhub import PROTOCOL_VERSION  # noqa: E402
from memhub.embedding import create_embedder  # noqa: E402
from memhub.mcp_bridge import formatting  # noqa: E402
from memhub.protocol import codec  # noqa: E402
from memhub.protocol import messages as m  # noqa: E402
from memhub.storage.model import Filters  # noqa: E402
from memhub.transport.client import open_daemon_client  # noqa: E402

MODEL_NAME = "sentence-transformers:all-MiniLM-L6-v2"


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)


def _row(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(samples) * 1000, 3), "p99_ms": _p(samples, 0.99)}


async def _timed(fn: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await fn()
    return time.perf_counter() - started


async def micro(result: m.SearchResult, rounds: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    frame = codec.encode(result)
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        codec.decode_server(codec.encode(result))
        samples.append(time.perf_counter() - started)
    out["codec_search_result_10_hits"] = _row(samples)
    out["codec_search_result_10_hits"]["bytes"] = len(frame.encode())
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        formatting.search_results(list(result.hits), mode=result.mode, query=result.query)
        samples.append(time.perf_counter() - started)
    out["bridge_format_10_hits"] = _row(samples)

    for label, idle in (("thread_hop_hot", 0.0), ("thread_hop_after_20ms_idle", 0.02)):
        lat = []
        for _ in range(rounds):
            if idle:
                await trio.sleep(idle)
            started = time.perf_counter()
            await trio.to_thread.run_sync(lambda: None)
            lat.append(time.perf_counter() - started)
        out[label] = _row(lat)
    return out


async def _echo_ws(request: WebSocketRequest) -> None:
    ws = await request.accept()
    with contextlib.suppress(ConnectionClosed):
        while True:
            await ws.send_message(await ws.get_message())


async def _echo_tcp(stream: trio.SocketStream) -> None:
    async for data in stream:
        await stream.send_all(data)


def _echo_server(kind: str, port_out: Any) -> None:
    """Child process: a trio TCP or trio-websocket echo server on 127.0.0.1."""

    async def serve() -> None:
        async with trio.open_nursery() as nursery:
            if kind == "ws":
                server = await nursery.start(serve_websocket, _echo_ws, "127.0.0.1", 0, None)
                port_out.put(server.port)
            else:
                listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
                port_out.put(listeners[0].socket.getsockname()[1])
                await trio.serve_listeners(_echo_tcp, listeners)

    trio.run(serve)


async def floors(rounds: int) -> dict[str, dict[str, float]]:
    """Round trips of a 300-byte message to a bare echo process: what any transport pays."""
    out: dict[str, dict[str, float]] = {}
    context = multiprocessing.get_context("spawn")
    for kind in ("tcp", "ws"):
        ports = context.Queue()
        child = context.Process(target=_echo_server, args=(kind, ports), daemon=True)
        child.start()
        port = ports.get(timeout=60)
        try:
            for pause in (0.0, 0.005):
                lat = []
                if kind == "ws":
                    async with open_websocket_url(f"ws://127.0.0.1:{port}") as ws:
                        for _ in range(rounds):
                            await trio.sleep(pause)
                            started = time.perf_counter()
                            await ws.send_message("x" * 300)
                            await ws.get_message()
                            lat.append(time.perf_counter() - started)
                else:
                    stream = await trio.open_tcp_stream("127.0.0.1", port)
                    async with stream:
                        for _ in range(rounds):
                            await trio.sleep(pause)
                            started = time.perf_counter()
                            await stream.send_all(b"x" * 300)
                            got = 0
                            while got < 300:
                                got += len(await stream.receive_some(65536))
                            lat.append(time.perf_counter() - started)
                label = "trio_websocket_echo" if kind == "ws" else "trio_tcp_echo"
                out[f"{label}_{'idle_5ms' if pause else 'hot'}"] = _row(lat[10:])
        finally:
            child.kill()
    return out


async def thread_layouts(
    embed: Callable[[str], Any], search: Callable[[Any], Any], rounds: int
) -> dict[str, dict[str, float]]:
    """One search (embed, then search) laid out over threads three ways, in this process.

    ``two_hops`` is the daemon's layout (embedder thread, then a reader thread); ``one_hop``
    runs both on one worker thread; ``inline_search`` embeds on a worker thread and searches on
    the event loop's thread. Each round waits 5 ms first, so worker threads have gone idle.
    """
    embed_limiter = trio.CapacityLimiter(1)
    read_limiter = trio.CapacityLimiter(1)

    async def two_hops(q: str) -> None:
        vector = await trio.to_thread.run_sync(embed, q, limiter=embed_limiter)
        await trio.to_thread.run_sync(search, vector, limiter=read_limiter)

    async def one_hop(q: str) -> None:
        await trio.to_thread.run_sync(lambda: search(embed(q)), limiter=embed_limiter)

    async def inline_search(q: str) -> None:
        search(await trio.to_thread.run_sync(embed, q, limiter=embed_limiter))

    layouts = {"two_hops": two_hops, "one_hop": one_hop, "inline_search": inline_search}
    lat: dict[str, list[float]] = {label: [] for label in layouts}
    for i in range(rounds):
        for label, layout in layouts.items():
            await trio.sleep(0.005)
            started = time.perf_counter()
            await layout(f"how do we {label} number {i}")
            lat[label].append(time.perf_counter() - started)
    return {f"layout_{label}": _row(samples[10:]) for label, samples in lat.items()}


async def run(size: int, n_queries: int, embedder_kind: str) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp())
    db = tmp / "hops.db"
    fill(db, size, "hash:v1" if embedder_kind == "hash" else MODEL_NAME)
    embedder = create_embedder(
        "hash" if embedder_kind == "hash" else "model", "all-MiniLM-L6-v2", 2
    )
    snapshot = readonly_snapshot(db)
    conn = snapshot.conn
    proc, info = start_daemon(db, embedder_kind)
    env = dict(
        os.environ,
        MEMHUB_EMBEDDER=embedder_kind,
        MCP_MEMORY_SQLITE_PATH=str(db),
        HF_HUB_OFFLINE="1",
    )
    params = StdioServerParameters(command=sys.executable, args=["-m", "memhub", "bridge"], env=env)
    rng = random.Random(5)
    order_rng = random.Random(6)
    lat: dict[str, list[float]] = {}
    last: m.SearchResult | None = None
    try:
        url = f"ws://{info.host}:{info.port}"
        async with (
            open_daemon_client(url, info.token) as client,
            open_websocket_url(url) as bare,
            Client(params, mode="legacy") as mcp,
        ):
            hello = m.Hello(id=1, protocol=PROTOCOL_VERSION, token=info.token, client="bare")
            await bare.send_message(codec.encode(hello))
            assert isinstance(codec.decode_server(await bare.get_message()), m.Welcome)
            unsubscribe_frame = codec.encode(m.Unsubscribe(id=2))
            for i in range(n_queries + 10):
                words = " ".join(rng.sample(WORDS, 4))

                def text(tag: str, words: str = words, i: int = i) -> str:
                    return f"how do we {words} ({i}{tag})"

                def in_process(fn: Callable[[], object]) -> Callable[[], Awaitable[None]]:
                    async def call() -> None:
                        conn.execute("BEGIN")
                        try:
                            fn()
                        finally:
                            conn.execute("COMMIT")

                    return call

                vector = embedder.encode([text("v")])[0]
                exact_query = text("x")

                async def embed_only(q: str = text("e")) -> None:
                    embedder.encode([q])

                async def embed_on_worker_thread(q: str = text("t")) -> None:
                    await trio.to_thread.run_sync(embedder.encode, [q])

                async def ws_search(q: str = text("w")) -> None:
                    nonlocal last
                    reply = await client.call(m.Search(id=0, query=q, limit=10))
                    assert isinstance(reply, m.SearchResult)
                    assert len(reply.hits) == 10
                    last = reply

                async def mcp_search(q: str = text("m")) -> None:
                    result = await mcp.call_tool("memory_search", {"query": q, "limit": 10})
                    assert not result.is_error

                def engine_search(v: Any = vector) -> object:
                    return snapshot.semantic_search(v, Filters(), 10)

                def engine_exact(q: str = exact_query) -> object:
                    return snapshot.exact_search(q, Filters(), 10)

                async def ws_ping() -> None:
                    await client.call(m.Unsubscribe(id=0))

                async def ws_ping_bare() -> None:
                    await bare.send_message(unsubscribe_frame)
                    await bare.get_message()

                async def ws_exact(q: str = exact_query) -> None:
                    await client.call(m.Search(id=0, query=q, mode="exact", limit=10))

                probes: dict[str, Callable[[], Awaitable[Any]]] = {
                    "engine_embed": embed_only,
                    "engine_embed_thread": embed_on_worker_thread,
                    "engine_search": in_process(engine_search),
                    "engine_exact": in_process(engine_exact),
                    "ws_ping": ws_ping,
                    "ws_ping_bare": ws_ping_bare,
                    "ws_exact": ws_exact,
                    "ws_search": ws_search,
                    "mcp_ping": mcp.send_ping,
                    "mcp_search": mcp_search,
                }
                order = list(probes.items())
                # Shuffled each round: a probe that always followed the same other one would
                # always find the daemon idle for the same time, and idle time changes wake-ups.
                order_rng.shuffle(order)
                for label, probe in order:
                    # A pause between calls, as between an app's tool calls: threads go idle.
                    await trio.sleep(0.005)
                    elapsed = await _timed(probe)
                    if i >= 10:
                        lat.setdefault(label, []).append(elapsed)
    finally:
        stop(proc)

    def engine_search_alone(vector: Any) -> object:
        conn.execute("BEGIN")
        try:
            return snapshot.semantic_search(vector, Filters(), 10)
        finally:
            conn.execute("COMMIT")

    assert last is not None
    probes_out = {label: _row(samples) for label, samples in lat.items()}
    p50 = {label: row["p50_ms"] for label, row in probes_out.items()}
    engine = p50["engine_embed"] + p50["engine_search"]
    result = {
        "size": size,
        "embedder": embedder_kind,
        "queries": n_queries,
        "probes": probes_out,
        "breakdown_p50_ms": {
            "engine (embed + search, in process)": round(engine, 3),
            "websocket + codec + daemon loop (ws_ping)": p50["ws_ping"],
            "service + reader thread hop (ws_exact - ws_ping - engine_exact)": round(
                p50["ws_exact"] - p50["ws_ping"] - p50["engine_exact"], 3
            ),
            "embedder actor thread hop (ws_search - ws_exact - engine + engine_exact)": round(
                p50["ws_search"] - p50["ws_exact"] - engine + p50["engine_exact"], 3
            ),
            "MCP stdio + JSON-RPC + SDK (mcp_ping)": p50["mcp_ping"],
            "bridge tool handler + its daemon client (mcp_search - ws_search - mcp_ping)": round(
                p50["mcp_search"] - p50["ws_search"] - p50["mcp_ping"], 3
            ),
            "total over the engine (mcp_search - engine)": round(p50["mcp_search"] - engine, 3),
        },
        "micro": await micro(last, 300),
        "thread_layouts": await thread_layouts(
            lambda q: embedder.encode([q])[0], engine_search_alone, n_queries
        ),
        "floors": await floors(300),
    }
    conn.close()
    return result


def main() -> None:
    # MCP ping is deprecated in the newest protocol revision; it still times the stdio floor.
    warnings.filterwarnings("ignore", message="ping is removed")
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--embedder", default="hash", choices=("hash", "model"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = trio.run(run, args.size, args.queries, args.embedder)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
