"""Where the CPU goes when eight client processes store into one daemon (issue 19).

Usage::

    python bench/where_time_goes.py --clients 8 --per-client 60 [--py-spy] [--json out.json]

Runs the same closed loop as ``bench/daemon_figures.py stores`` (K client processes, each
storing one memory at a time with the real model) and measures, over the stores only:

* CPU seconds of the daemon and of all client processes together, against the wall time x
  the cores (what the two cores were busy with);
* the daemon's CPU by thread: onnxruntime's intra-op threads (the model), the trio thread
  (transport, codec, service), and the worker threads (writer, readers, embedding calls);
* the embedder's and the writer's mean batch size (from the daemon's health report);
* with ``--py-spy``: the daemon's hottest functions, from ``py-spy record --format raw``
  (py-spy must be installed: ``pip install py-spy``; the profile needs ptrace permission).

The batch-32 ceiling of the model (``bench/embed_ceiling.py``) is the figure the stores/s are
measured against in docs/benchmarks.md; this script says what keeps them below it.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))

from daemon_figures import CLIENT, _health, start_daemon, stop  # noqa: E402


def thread_cpu(proc: psutil.Process) -> dict[int, float]:
    return {t.id: t.user_time + t.system_time for t in proc.threads()}


def thread_names(pid: int) -> dict[int, str]:
    names: dict[int, str] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            names[int(task.name)] = (task / "comm").read_text().strip()
        except OSError:
            continue
    return names


def classify(name: str, tid: int, pid: int) -> str:
    if tid == pid:
        return "trio thread (transport, codec, service)"
    return f"thread {name!r}"


def run(clients: int, per_client: int, py_spy: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "stores.db"
        proc, info = start_daemon(db, "model")
        daemon = psutil.Process(proc.pid)
        try:
            workers = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        CLIENT,
                        info.url,
                        info.token,
                        str(per_client),
                        str(k + 1),
                        str(ROOT / "bench"),
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                )
                for k in range(clients)
            ]
            for w in workers:
                assert w.stdout is not None
                assert w.stdout.readline().strip() == b"ready"
            client_procs = [psutil.Process(w.pid) for w in workers]
            client_cpu0 = sum(sum(p.cpu_times()[:2]) for p in client_procs)
            threads0 = thread_cpu(daemon)
            daemon_cpu0 = sum(daemon.cpu_times()[:2])
            spy: subprocess.Popen[bytes] | None = None
            raw = Path(tmp) / "profile.txt"
            if py_spy:
                exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
                spy = subprocess.Popen(
                    [
                        exe,
                        "record",
                        "--pid",
                        str(proc.pid),
                        "--format",
                        "raw",
                        "--threads",
                        "--nonblocking",
                        "--rate",
                        "200",
                        "--output",
                        str(raw),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                time.sleep(1.0)  # py-spy attaches
            started = time.perf_counter()
            for w in workers:
                assert w.stdin is not None
                w.stdin.write(b"go\n")
                w.stdin.flush()
            # CPU of each client, taken just before it exits (psutil cannot read a reaped one).
            client_cpu1 = 0.0
            results = []
            for w, p in zip(workers, client_procs, strict=True):
                assert w.stdout is not None
                line = w.stdout.readline()
                with contextlib.suppress(psutil.NoSuchProcess):
                    client_cpu1 += sum(p.cpu_times()[:2])
                results.append(json.loads(line))
                w.communicate(timeout=60)
            wall = time.perf_counter() - started
            daemon_cpu1 = sum(daemon.cpu_times()[:2])
            threads1 = thread_cpu(daemon)
            names = thread_names(proc.pid)
            stats = _health(info)
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its profile on SIGINT
                spy.wait(60)
        finally:
            stop(proc)
        by_kind: dict[str, float] = collections.defaultdict(float)
        for tid, cpu in threads1.items():
            by_kind[classify(names.get(tid, "?"), tid, proc.pid)] += cpu - threads0.get(tid, 0.0)
        hot = hottest(raw) if py_spy and raw.exists() else []
    latencies = [x for r in results for x in r["lat"]]
    stored = len(latencies) - sum(r["errors"] for r in results)
    cores = os.cpu_count() or 1
    daemon_cpu = daemon_cpu1 - daemon_cpu0
    client_cpu = client_cpu1 - client_cpu0
    return {
        "clients": clients,
        "stores_per_s": round(stored / wall, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "wall_s": round(wall, 2),
        "cpu_available_s": round(wall * cores, 2),
        "daemon_cpu_s": round(daemon_cpu, 2),
        "clients_cpu_s": round(client_cpu, 2),
        "daemon_cpu_ms_per_store": round(daemon_cpu / stored * 1000, 2),
        "clients_cpu_ms_per_store": round(client_cpu / stored * 1000, 2),
        "daemon_threads_cpu_s": {
            k: round(v, 2) for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])
        },
        "embedder_mean_batch": round(stats.embedder.mean_batch_size, 2),
        "writer_mean_batch": round(stats.writer.mean_batch_size, 2),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "hottest": hot,
    }


def hottest(raw: Path, top: int = 25) -> list[tuple[str, float]]:
    """Share of samples whose stack contains each function (inclusive), the top ``top``."""
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        seen = set()
        for frame in stack.split(";"):
            name = frame.split(" (")[0].strip()
            if name and name not in seen:
                seen.add(name)
                inclusive[name] += n
    return [(name, round(n / total, 3)) for name, n in inclusive.most_common(top)] if total else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--per-client", type=int, default=60)
    parser.add_argument("--py-spy", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    report = run(args.clients, args.per_client, args.py_spy)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
