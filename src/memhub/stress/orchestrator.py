"""Process orchestration for ``memhub stress``: the daemon, the clients, chaos, verification."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import attrs
import psutil
import trio

from memhub.config import EmbedderKind
from memhub.discovery import RuntimeInfo, spawn_daemon, wait_until_ready
from memhub.protocol import messages as m
from memhub.stress import integrity, stats
from memhub.transport.client import open_daemon_client


@attrs.frozen(kw_only=True)
class RunConfig:
    clients: int
    duration: float
    ops: int
    rate: float
    seed: int
    embedder: EmbedderKind
    via: str
    db: Path | None
    keep: bool
    kill_every: float
    legacy_writer: bool


def _env(config: RunConfig) -> dict[str, str]:
    env = dict(os.environ, MEMHUB_EMBEDDER=config.embedder, HF_HUB_OFFLINE="1")
    env.pop("MCP_MEMORY_SQLITE_PATH", None)
    env.pop("MCP_MEMORY_SQLITEVEC_PATH", None)
    return env


async def daemon_health(info: RuntimeInfo) -> m.HealthReport | None:
    try:
        with trio.fail_after(10):
            async with open_daemon_client(info.url, info.token) as client:
                reply = await client.call(m.Health(id=0))
                return reply if isinstance(reply, m.HealthReport) else None
    except Exception:
        return None


def _rss(pid: int, *, children: bool = False) -> float:
    """Resident MB of a process (plus its children: a client's ``memhub bridge``)."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)] if children else [proc]
        rss: float = sum(p.memory_info().rss for p in procs) / 2**20
        return rss
    except psutil.Error:
        return 0.0


def run(config: RunConfig, progress: Any = None) -> dict[str, Any]:
    """One stress run; returns the report as a dict (see ``report.py``)."""
    work = Path(tempfile.mkdtemp(prefix="memhub-stress-"))
    db = (config.db or work / "stress.db").resolve()
    env = _env(config)
    daemon_log = work / "daemon.log"
    daemon = spawn_daemon(db, daemon_log, env)
    kills = 0
    peak_daemon = 0.0
    peak_clients = 0.0
    health: m.HealthReport | None = None
    try:
        info = wait_until_ready(db, daemon, 180)
        ledgers = [work / f"client{k}.jsonl" for k in range(config.clients)]
        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "memhub.stress.worker",
                    "--db",
                    str(db),
                    "--client",
                    str(k),
                    "--seed",
                    str(config.seed),
                    "--ledger",
                    str(ledgers[k]),
                    "--duration",
                    str(config.duration),
                    "--ops",
                    str(config.ops),
                    "--rate",
                    str(config.rate),
                    "--via",
                    config.via,
                ],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            for k in range(config.clients)
        ]
        legacy = None
        if config.legacy_writer:
            ledgers.append(work / "legacy.jsonl")
            legacy = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "memhub.stress.legacy_writer",
                    "--db",
                    str(db),
                    "--ledger",
                    str(ledgers[-1]),
                    "--duration",
                    str(config.duration or 10),
                    "--embedder",
                    config.embedder,
                    "--seed",
                    str(config.seed),
                ],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        starters = [*workers, *([legacy] if legacy else [])]
        for proc in starters:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if line != b"ready":
                raise RuntimeError("a stress client failed to start")
        started = time.monotonic()
        for proc in starters:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            proc.stdin.flush()
        next_kill = started + config.kill_every if config.kill_every else None
        sampled_at = 0.0
        while any(w.poll() is None for w in starters):
            now = time.monotonic()
            if now - sampled_at >= 1.0:
                # Sampling costs CPU the daemon needs (a children() call scans all of /proc),
                # so sample once a second, and look for bridge children only with --via mcp.
                sampled_at = now
                mcp = config.via == "mcp"
                peak_daemon = max(peak_daemon, _rss(info.pid))
                peak_clients = max(peak_clients, sum(_rss(w.pid, children=mcp) for w in starters))
            if next_kill is not None and now >= next_kill:
                os.kill(info.pid, signal.SIGKILL)  # chaos: no drain, no checkpoint
                kills += 1
                daemon.wait()
                daemon = spawn_daemon(db, daemon_log, env)
                info = wait_until_ready(db, daemon, 180)
                next_kill = time.monotonic() + config.kill_every
            if progress is not None:
                progress(sum(_lines(p) for p in ledgers), now - started)
            time.sleep(0.25)
        wall = time.monotonic() - started
        health = trio.run(daemon_health, info)
        failed = [w.returncode for w in starters if w.returncode != 0]
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(60)
            except subprocess.TimeoutExpired:
                daemon.kill()
    records = [
        json.loads(line)
        for path in ledgers
        if path.exists()
        for line in path.read_text().splitlines()
    ]
    from memhub.embedding import create_embedder

    embedder = create_embedder(config.embedder, "all-MiniLM-L6-v2", 2)
    checks = integrity.verify(db, records, embedder, exclusive=config.db is None)
    errors: dict[str, int] = {}
    for r in records:
        if r["outcome"] == "error":
            key = r.get("error", "error").split(":", 1)[0]
            errors[key] = errors.get(key, 0) + 1
    report: dict[str, Any] = {
        "config": {
            k: str(v) if isinstance(v, Path) else v for k, v in attrs.asdict(config).items()
        },
        "db": str(db),
        "wall_s": round(wall, 2),
        "ops": len(records),
        "ops_per_s": round(len(records) / wall, 2) if wall else 0.0,
        "per_op": stats.per_op(records, wall),
        "outcomes": _count(r["outcome"] for r in records),
        "errors": errors,
        "client_failures": failed,
        "daemon_kills": kills,
        "writer": attrs.asdict(health.writer) if health else None,
        "embedder": attrs.asdict(health.embedder) if health else None,
        "peak_rss_mb": {"daemon": round(peak_daemon), "clients_total": round(peak_clients)},
        "checks": [attrs.asdict(c) for c in checks],
        "passed": not errors and not failed and all(c.ok for c in checks),
    }
    if not config.keep and config.db is None:
        shutil.rmtree(work, ignore_errors=True)
    else:
        report["work_dir"] = str(work)
    return report


def _lines(path: Path) -> int:
    try:
        with path.open("rb") as handle:
            return sum(1 for _ in handle)
    except FileNotFoundError:
        return 0


def _count(values: Any) -> dict[str, int]:
    counted: dict[str, int] = {}
    for value in values:
        counted[value] = counted.get(value, 0) + 1
    return counted
