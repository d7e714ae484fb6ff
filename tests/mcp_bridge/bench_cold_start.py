"""Benchmark (not a test): cold start of ``memhub bridge`` to its ``tools/list`` answer.

Run: ``python tests/mcp_bridge/bench_cold_start.py [--runs 10] [--first-call]
[--embedder model [--backend onnx|sentence-transformers]]``.

Each run starts a fresh bridge process, sends ``initialize``, ``notifications/initialized``
and ``tools/list`` the way Claude does, and times the wall clock from ``Popen`` to the
``tools/list`` reply. No daemon is involved (the target is <= 1.0 s). With ``--first-call``
it also times the first ``memory_store`` of a bridge whose daemon is not running yet (hash
embedder by default: process start, lock, schema, no model; ``--embedder model`` loads the real
model with the chosen backend, after its one-time ONNX export), and the whole span from the
bridge's spawn to that first result. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "0"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
LIST = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}


def _send(proc: subprocess.Popen[bytes], message: dict[str, Any]) -> None:
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(message).encode() + b"\n")
    proc.stdin.flush()


def _reply(proc: subprocess.Popen[bytes], request_id: int) -> dict[str, Any]:
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("bridge closed stdout")
        message: dict[str, Any] = json.loads(line)
        if message.get("id") == request_id:
            return message


def one_run(
    db: Path, *, first_call: bool, embedder: str = "hash", backend: str = "onnx"
) -> dict[str, float]:
    env = {
        **os.environ,
        "MEMHUB_EMBEDDER": embedder,
        "MEMHUB_EMBEDDING_BACKEND": backend,
        "MEMHUB_BRIDGE_WARMUP": "0",
    }
    began = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "memhub", "bridge", "--db", str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        _send(proc, INIT)
        _reply(proc, 1)
        initialized = time.perf_counter()
        _send(proc, INITIALIZED)
        _send(proc, LIST)
        tools = _reply(proc, 2)
        listed = time.perf_counter()
        assert len(tools["result"]["tools"]) == 9
        out = {"initialize_s": initialized - began, "tools_list_s": listed - began}
        if first_call:
            call = {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "tools/call",
                "params": {
                    "name": "memory_store",
                    "arguments": {"content": f"bench {time.time()}"},
                },
            }
            sent = time.perf_counter()
            _send(proc, call)
            _reply(proc, 3)
            done = time.perf_counter()
            out["first_call_s"] = done - sent
            out["spawn_to_first_result_s"] = done - began
        return out
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()


def _stop_daemon(db: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "memhub", "stop", "--db", str(db)],
        capture_output=True,
        check=False,
        timeout=60,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--first-call", action="store_true")
    parser.add_argument(
        "--warm", action="store_true", help="with --first-call: the daemon is already running"
    )
    parser.add_argument("--embedder", default="hash", choices=("hash", "model"))
    parser.add_argument("--backend", default="onnx", choices=("onnx", "sentence-transformers"))
    args = parser.parse_args()
    runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.warm:
            # One unmeasured run starts the daemon; every measured bridge then finds it up.
            one_run(
                Path(tmp) / "warm.db", first_call=True, embedder=args.embedder, backend=args.backend
            )
        for i in range(args.runs):
            name = "warm" if args.warm else f"bench{i if args.first_call else 0}"
            db = Path(tmp) / f"{name}.db"
            try:
                runs.append(
                    one_run(
                        db, first_call=args.first_call, embedder=args.embedder, backend=args.backend
                    )
                )
            finally:
                if args.first_call and not args.warm:
                    _stop_daemon(db)
        if args.warm:
            _stop_daemon(Path(tmp) / "warm.db")
    summary: dict[str, Any] = {
        "runs": args.runs,
        "python": sys.version.split()[0],
        "embedder": args.embedder,
        "backend": args.backend,
    }
    for key in runs[0]:
        values = sorted(r[key] for r in runs)
        summary[key] = {
            "median": round(statistics.median(values), 3),
            "p90": round(values[int(0.9 * (len(values) - 1))], 3),
            "max": round(values[-1], 3),
        }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
