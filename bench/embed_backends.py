"""The two embedding backends side by side: texts/s, daemon start to ready, daemon RSS.

Usage::

    python bench/embed_backends.py --rounds 2 --texts 256 --stores 32

Each round runs, for each backend (in alternating order, so the shared host's noise hits both
alike):

* a fresh child process that loads the embedder through ``create_embedder`` exactly as the
  daemon does (threads = cores) and encodes ``--texts`` texts of ~110 characters at batch 1 and
  at batch 32 (after a warm-up), reporting texts/s, the load time and the process RSS;
* a real ``memhub serve`` on a fresh database: spawn -> runtime file published (ready to accept
  clients, model loaded), then its RSS when ready and after ``--stores`` stores plus as many
  searches through a real client.

The ONNX export is made (or verified) before the first round, so no figure includes it.
Prints per-round figures and medians as JSON; the ratios are per round, then the median.
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
from typing import Any

import psutil
import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from daemon_figures import make_text  # noqa: E402

from memhub.config import DEFAULT_MODEL, model_cache_dir, runtime_paths  # noqa: E402
from memhub.discovery import RuntimeInfo, read_runtime_file  # noqa: E402
from memhub.protocol import messages as m  # noqa: E402
from memhub.transport.client import open_daemon_client  # noqa: E402

BACKENDS = ("onnx", "sentence-transformers")

CHILD = r"""
import json, os, random, sys, time
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
started = time.perf_counter()
import psutil
sys.path.insert(0, sys.argv[3])
from daemon_figures import make_text
from memhub.embedding import create_embedder
embedder = create_embedder("model", "all-MiniLM-L6-v2", os.cpu_count() or 2, backend=sys.argv[1])
loaded = time.perf_counter() - started
rng = random.Random(5)
texts = [make_text(rng, i) for i in range(int(sys.argv[2]))]
embedder.encode(texts[:8])
result = {"load_s": round(loaded, 3), "class": type(embedder).__name__}
for batch in (1, 32):
    t = time.perf_counter()
    for i in range(0, len(texts), batch):
        embedder.encode(texts[i : i + batch])
    result[f"batch{batch}_texts_per_s"] = round(len(texts) / (time.perf_counter() - t), 1)
result["rss_mb"] = round(psutil.Process().memory_info().rss / 2**20)
result["torch_imported"] = "torch" in sys.modules
print(json.dumps(result))
"""


def throughput(backend: str, texts: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, backend, str(texts), str(ROOT / "bench")],
        env=_env(backend),
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def daemon(backend: str, stores: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "memhub", "serve", "--db", str(db)],
            env=_env(backend),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            info = _wait_ready(db, proc)
            ready_s = time.perf_counter() - started
            process = psutil.Process(proc.pid)
            rss_ready = process.memory_info().rss
            trio.run(_use, info, stores)
            rss_used = process.memory_info().rss
        finally:
            proc.terminate()
            proc.wait(60)
    return {
        "start_to_ready_s": round(ready_s, 3),
        "rss_ready_mb": round(rss_ready / 2**20),
        f"rss_after_{stores}_stores_mb": round(rss_used / 2**20),
    }


async def _use(info: RuntimeInfo, stores: int) -> None:
    rng = random.Random(9)
    async with open_daemon_client(info.url, info.token, client_name="bench") as client:
        for i in range(stores):
            await client.call(m.Store(id=0, content=make_text(rng, i)))
            await client.call(m.Search(id=0, query=make_text(rng, 10_000 + i), limit=5))


def _wait_ready(db: Path, proc: subprocess.Popen[bytes]) -> RuntimeInfo:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        info = read_runtime_file(runtime_paths(db.resolve()).runtime)
        if info is not None and info.pid == proc.pid:
            return info
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited with {proc.returncode}")
        time.sleep(0.02)
    raise TimeoutError("daemon did not start")


def _env(backend: str) -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.update(MEMHUB_EMBEDDER="model", MEMHUB_EMBEDDING_BACKEND=backend)
    env.pop("MCP_MEMORY_SQLITE_PATH", None)
    env.pop("MCP_MEMORY_SQLITEVEC_PATH", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _ensure_export() -> None:
    from memhub.embedding.lookup import locate_model
    from memhub.embedding.onnx_cache import ensure_cached

    source, identity, _ = locate_model(DEFAULT_MODEL).as_tuple()
    cached = ensure_cached(Path(source), identity, model_cache_dir(), threads=2, progress=print)
    print(f"export ready: {cached.directory}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--stores", type=int, default=32)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    _ensure_export()
    rounds: list[dict[str, dict[str, Any]]] = []
    for r in range(args.rounds):
        order = BACKENDS if r % 2 == 0 else BACKENDS[::-1]
        row: dict[str, dict[str, Any]] = {}
        for backend in order:
            row[backend] = {**throughput(backend, args.texts), **daemon(backend, args.stores)}
            print(f"round {r + 1} {backend}: {json.dumps(row[backend])}", file=sys.stderr)
        rounds.append(row)
    summary: dict[str, Any] = {"rounds": rounds, "median": {}, "ratio_onnx_over_st": {}}
    for key, value in rounds[0]["onnx"].items():
        if isinstance(value, bool | str):
            continue
        for backend in BACKENDS:
            values = [row[backend][key] for row in rounds]
            summary["median"].setdefault(backend, {})[key] = statistics.median(values)
        ratios = [row["onnx"][key] / row["sentence-transformers"][key] for row in rounds]
        summary["ratio_onnx_over_st"][key] = round(statistics.median(ratios), 2)
    text = json.dumps(summary, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
