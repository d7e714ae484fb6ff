"""Web UI figures for docs/benchmarks.md: aggregate latency at 100k memories, page load at 10k.

Usage::

    python bench/webui_figures.py aggregates --size 100000 --repeat 20
    python bench/webui_figures.py pageload --size 10000 --repeat 5
    python bench/webui_figures.py feed --rate 100 --seconds 10
    python bench/webui_figures.py screenshot     # writes docs/webui.png

Databases are filled directly (rows only; aggregates never read vectors) with tags drawn from a
Zipf-like vocabulary of 500 tags, 1-4 per memory, and types from the ontology, spread over 90
days. ``aggregates`` times the three requests over the real protocol against a real
``memhub serve`` (hash embedder): the first request (a full count), then each request after a
store (answered from the daemon's cache), plus the full tag pass alone on a read-only connection.
``pageload`` opens the page from ``memhub ui --print-url`` in Debian's Chromium and reads the
time from navigation start to the first rows rendered (the ``memhub-first-results`` mark).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.webui.helpers import CHROMIUM_ARGS  # noqa: E402  (the tests' own launch flags)

from memhub.config import DEFAULT_PRAGMAS, runtime_paths  # noqa: E402
from memhub.domain.hashing import content_hash  # noqa: E402
from memhub.protocol import messages as m  # noqa: E402
from memhub.storage.sqlite import schema as schema_mod  # noqa: E402
from memhub.storage.sqlite.aggregates import count_all  # noqa: E402
from memhub.storage.sqlite.writes import record_embedder  # noqa: E402
from memhub.transport.client import open_daemon_client  # noqa: E402

TYPES = ["note", "decision", "reference", "task", "observation", "learning"]


def fill(db: Path, size: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    vocabulary = [f"tag{i}" for i in range(500)]
    weights = [1 / (i + 1) for i in range(500)]
    conn = schema_mod.connect(db, readonly=False, pragmas=DEFAULT_PRAGMAS, create=True)
    schema_mod.create(conn, db, dimension=384, generation="v12")
    now = time.time()
    with conn:
        record_embedder(conn, "hash:v1")
        rows = []
        for i in range(size):
            content = f"memory {i} about {rng.random()}"
            tags = sorted(set(rng.choices(vocabulary, weights, k=rng.randint(1, 4))))
            created = now - rng.random() * 90 * 86400
            rows.append(
                (content_hash(content), content, ",".join(tags), rng.choice(TYPES), created)
            )
        conn.executemany(
            "INSERT INTO memories (content_hash, content, tags, memory_type, metadata, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, '{}', ?, ?)",
            [(*r, r[-1]) for r in rows],
        )
    conn.close()


def env_for(db: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        MEMHUB_EMBEDDER="hash",
        MCP_MEMORY_SQLITE_PATH=str(db),
        HF_HUB_OFFLINE="1",
        PYTHONPATH=str(ROOT / "src"),
        # The hash embedder makes look-alike load texts near-duplicates; count them all.
        MCP_SEMANTIC_DEDUP_ENABLED="false",
    )
    return env


def ui_url(db: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "memhub", "ui", "--print-url", "--db", str(db)],
        env=env_for(db),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip()


def stop(db: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "memhub", "stop", "--db", str(db)],
        env=env_for(db),
        capture_output=True,
        check=False,
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values), 2),
        "p95_ms": round(percentile(values, 0.95), 2),
        "max_ms": round(max(values), 2),
    }


def bench_aggregates(size: int, repeat: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "agg.db"
        fill(db, size)
        conn = schema_mod.connect(db, readonly=True, pragmas=DEFAULT_PRAGMAS)
        schema = schema_mod.inspect(conn, db)
        assert schema is not None
        direct = []
        for _ in range(repeat):
            began = time.perf_counter()
            distinct = count_all(conn, schema)["default"].distinct_tags
            direct.append((time.perf_counter() - began) * 1000)
        strings = conn.execute("SELECT COUNT(DISTINCT tags) FROM memories").fetchall()[0][0]
        conn.close()
        ui_url(db)  # starts the daemon
        info = json.loads(runtime_paths(db).runtime.read_text())
        timings: dict[str, list[float]] = {
            "count_tags": [],
            "count_types": [],
            "count_days": [],
            "count_tags_after_a_store": [],
        }
        cold: list[float] = []

        async def run() -> None:
            url = f"ws://127.0.0.1:{info['port']}"
            async with open_daemon_client(url, info["token"], client_name="bench") as client:
                requests: dict[str, m.Request] = {
                    "count_tags": m.CountTags(id=0, limit=200),
                    "count_types": m.CountTypes(id=0),
                    "count_days": m.CountDays(id=0, days=30),
                }
                began = time.perf_counter()
                await client.call(m.CountTags(id=0, limit=200))  # the first one counts all
                cold.append((time.perf_counter() - began) * 1000)
                for i in range(repeat):
                    await client.call(m.Store(id=0, content=f"bench write {i}", tags=["tag1"]))
                    began = time.perf_counter()
                    await client.call(m.CountTags(id=0, limit=200))
                    timings["count_tags_after_a_store"].append((time.perf_counter() - began) * 1000)
                    for name, request in requests.items():
                        began = time.perf_counter()
                        await client.call(request)
                        timings[name].append((time.perf_counter() - began) * 1000)

        try:
            trio.run(run)
        finally:
            stop(db)
        return {
            "memories": size,
            "distinct_tags": distinct,
            "distinct_tag_strings": strings,
            "full_tag_pass_direct": summary(direct),
            "first_request_full_count_ms": round(cold[0], 1),
            **{name: summary(values) for name, values in timings.items()},
        }


def bench_pageload(size: int, repeat: int) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "page.db"
        fill(db, size)
        loads: list[float] = []
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
                )
                for _ in range(repeat):
                    url = ui_url(db)
                    context = browser.new_context()  # a cold cache every time
                    page = context.new_page()
                    page.goto(url)
                    page.wait_for_selector("body[data-ready=true]")
                    mark = page.evaluate(
                        "performance.getEntriesByName('memhub-first-results')[0].startTime"
                    )
                    loads.append(float(mark))
                    context.close()
                browser.close()
        finally:
            stop(db)
        return {"memories": size, "first_results": summary(loads)}


SAMPLE = [
    ("claude-code", "Staging deploys need the VPN; ask #ops for a token", ["ops", "deploy"]),
    ("claude-desktop", "Prefer trio over asyncio in memhub: structured concurrency", ["python"]),
    ("cursor", "The billing service retries webhooks 5 times with backoff", ["billing"]),
    ("claude-code", "Run `scripts/dev test` before every push", ["workflow", "ci"]),
    ("claude-desktop", "Alice owns the search ranking roadmap for Q1", ["people", "search"]),
    ("cursor", '<img src=x onerror="alert(1)"> stays text in the UI', ["security", "xss"]),
]


def screenshot(path: Path) -> None:
    """The picture in the README: a few clients' writes arriving in the live feed."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "shot.db"
        fill(db, 300)
        try:
            url = ui_url(db)
            info = json.loads(runtime_paths(db).runtime.read_text())
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
                )
                page = browser.new_page(viewport={"width": 1280, "height": 720})
                page.goto(url)
                page.wait_for_selector("body[data-ready=true]")

                async def write() -> None:
                    for name, content, tags in SAMPLE:
                        async with open_daemon_client(
                            f"ws://127.0.0.1:{info['port']}", info["token"], client_name=name
                        ) as client:
                            await client.call(m.Store(id=0, content=content, tags=tags))

                trio.run(write)
                page.wait_for_selector("#feed-list li.kind-stored >> nth=5")
                page.screenshot(path=str(path))
                browser.close()
        finally:
            stop(db)


PROBE = """
window.__probe = { lags: [], added: 0 };
let expected = performance.now() + 50;
setInterval(() => { const now = performance.now(); window.__probe.lags.push(now - expected);
  expected = now + 50; }, 50);
new MutationObserver((records) => {
  for (const r of records) window.__probe.added += r.addedNodes.length;
}).observe(document.getElementById("feed-list"), { childList: true });
"""


def bench_feed(rate: int, seconds: int) -> dict[str, object]:
    """Writes at ``rate``/s for ``seconds`` while the page shows them: timer lag and DOM size."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "feed.db"
        fill(db, 1000)
        try:
            url = ui_url(db)
            info = json.loads(runtime_paths(db).runtime.read_text())
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
                )
                page = browser.new_page()
                page.goto(url)
                page.wait_for_selector("body[data-ready=true]")
                page.evaluate(PROBE)
                acked = [0]

                async def writer(k: int, clients: int) -> None:
                    interval = clients / rate
                    async with open_daemon_client(
                        f"ws://127.0.0.1:{info['port']}", info["token"], client_name=f"w{k}"
                    ) as client:
                        start = trio.current_time()
                        for i in range(rate * seconds // clients):
                            await trio.sleep_until(start + i * interval)
                            await client.call(
                                m.Store(id=0, content=f"feed load {k} {i} {random.random()}")
                            )
                            acked[0] += 1

                async def write_all() -> float:
                    began = time.perf_counter()
                    async with trio.open_nursery() as nursery:
                        for k in range(4):
                            nursery.start_soon(writer, k, 4)
                    return time.perf_counter() - began

                elapsed = trio.run(write_all)
                deadline = time.time() + 10
                while time.time() < deadline:
                    if page.evaluate("window.__probe.added") >= acked[0]:
                        break
                    time.sleep(0.1)
                probe = page.evaluate("window.__probe")
                rows = page.evaluate("document.getElementById('feed-list').childElementCount")
                browser.close()
        finally:
            stop(db)
        lags = [float(x) for x in probe["lags"]]
        return {
            "writes": acked[0],
            "write_rate_per_s": round(acked[0] / elapsed, 1),
            "rows_added_to_feed": probe["added"],
            "rows_in_dom_at_end": rows,
            "timer_lag_ms": summary(lags),
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=("aggregates", "pageload", "feed", "screenshot"))
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    if args.what == "screenshot":
        screenshot(ROOT / "docs" / "webui.png")
        return
    if args.what == "feed":
        result = bench_feed(args.rate, args.seconds)
    elif args.what == "aggregates":
        result = bench_aggregates(args.size, args.repeat)
    else:
        result = bench_pageload(args.size, args.repeat)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
