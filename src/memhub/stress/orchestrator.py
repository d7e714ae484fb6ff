"""Process orchestration for ``memhub stress``: the daemons, the clients, chaos, verification.

A SQLite run has one daemon on one file. A team run (``--db postgresql://…``) has ``--machines``
daemons on one PostgreSQL store (:mod:`~memhub.stress.machines`), the clients spread over them
round-robin, and one subscriber process per machine recording every event it is sent; at the end
the orchestrator waits until every mirror and every subscriber has caught up with the feed, and
verifies the store and each machine's view of it (:mod:`~memhub.stress.team_integrity`).

Chaos is a callable run on every tick of the supervision loop with a :class:`ChaosContext`:
``--kill-daemon-every`` is one (it SIGKILLs the machines' daemons in turn and restarts them); the
fault tests pass their own (kill the PostgreSQL server, terminate its backends, ...).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import trio

from memhub.config import EmbedderKind
from memhub.discovery import RuntimeInfo
from memhub.protocol import messages as m
from memhub.storage.postgres.target import is_database_url
from memhub.stress import integrity, stats
from memhub.stress.expectations import expect
from memhub.stress.machines import Machine, file_machine, team_machines
from memhub.transport.client import open_daemon_client

CATCH_UP_S = 60.0  # mirrors and subscribers must have every change this soon after the clients


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
    url: str | None = None  # a team store (then ``db`` is None)
    machines: int = 1
    schema: str | None = None  # an existing team store's schema instead of a temporary one
    shared_rate: float | None = None  # None: 0.15 for a team run, 0 for a file


@attrs.define
class ChaosContext:
    """What a chaos callable may look at and do, once per supervision tick."""

    started: float
    machines: list[Machine]
    ops: int = 0  # operations the clients have logged so far
    notes: list[str] = attrs.field(factory=list)
    #: Ledger records of writes the chaos made itself (``client`` None): verified like the
    #: clients' own.
    records: list[dict[str, Any]] = attrs.field(factory=list)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def health(self, index: int) -> m.HealthReport | None:
        info = self.machines[index].info
        return None if info is None else trio.run(daemon_health, info)

    def note(self, text: str) -> None:
        self.notes.append(f"{self.elapsed:6.2f}s {text}")


Chaos = Callable[[ChaosContext], None]


def kill_daemons_every(seconds: float) -> Chaos:
    """SIGKILL the machines' daemons in turn every ``seconds`` (each is restarted)."""
    state = {"next": seconds, "turn": 0}

    def chaos(ctx: ChaosContext) -> None:
        if ctx.elapsed < state["next"]:
            return
        victim = ctx.machines[int(state["turn"]) % len(ctx.machines)]
        victim.kill()
        state["turn"] += 1
        state["next"] = ctx.elapsed + seconds

    return chaos


def _env(config: RunConfig) -> dict[str, str]:
    env = dict(os.environ, MEMHUB_EMBEDDER=config.embedder, HF_HUB_OFFLINE="1")
    env.pop("MCP_MEMORY_SQLITE_PATH", None)
    env.pop("MCP_MEMORY_SQLITEVEC_PATH", None)
    env.pop("MEMHUB_DATABASE_URL", None)
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
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)] if children else [proc]
        rss: float = sum(p.memory_info().rss for p in procs) / 2**20
        return rss
    except psutil.Error:
        return 0.0


def _start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def _await_ready(procs: list[subprocess.Popen[bytes]], what: str) -> None:
    for proc in procs:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != b"ready":
            raise RuntimeError(f"a stress {what} failed to start")


def run(config: RunConfig, progress: Any = None, chaos: Chaos | None = None) -> dict[str, Any]:
    """One stress run; returns the report as a dict."""
    work = Path(tempfile.mkdtemp(prefix="memhub-stress-"))
    env = _env(config)
    team = None
    shared_rate = config.shared_rate
    if config.url is not None:
        from memhub.embedding import create_embedder
        from memhub.stress import team_store

        model = create_embedder(config.embedder, "all-MiniLM-L6-v2", 2)
        team = team_store.prepare(
            config.url, config.schema, embedder=model.name, dimension=model.dimension
        )
        machines = team_machines(config.machines, config.url, team.schema, env, work)
        shared_rate = 0.15 if shared_rate is None else shared_rate
        db = None
    else:
        db = (config.db or work / "stress.db").resolve()
        machines = [file_machine(db, env, work / "daemon.log")]
    chaos_list = [c for c in (chaos,) if c is not None]
    if config.kill_every:
        chaos_list.append(kill_daemons_every(config.kill_every))
    try:
        report = _supervise(
            config, work, machines, team, db, shared_rate or 0.0, chaos_list, progress
        )
    finally:
        for machine in machines:
            machine.stop()
        if team is not None and not config.keep:
            from memhub.stress import team_store

            team_store.drop(team)
    if not config.keep and config.db is None:
        shutil.rmtree(work, ignore_errors=True)
    else:
        report["work_dir"] = str(work)
    return report


def _supervise(
    config: RunConfig,
    work: Path,
    machines: list[Machine],
    team: Any,
    db: Path | None,
    shared_rate: float,
    chaos_list: list[Chaos],
    progress: Any,
) -> dict[str, Any]:
    for machine in machines:
        machine.spawn()
    for machine in machines:
        machine.wait_ready()
    sub_ledgers = [work / f"{machine.name}.events.jsonl" for machine in machines]
    subscribers: list[subprocess.Popen[bytes]] = []
    start_seq = 0
    if team is not None:
        from memhub.stress import team_store

        subscribers = _start_subscribers(machines, sub_ledgers)
        start_seq = team_store.last_seq(team)
    fleet = _start_clients(config, work, machines, db, shared_rate)
    run = _drive(config, machines, fleet, chaos_list, progress)
    records = [
        json.loads(line)
        for path in fleet.ledgers
        if path.exists()
        for line in path.read_text().splitlines()
    ]
    from memhub.embedding import create_embedder

    embedder = create_embedder(config.embedder, "all-MiniLM-L6-v2", 2)
    everything = [*records, *run.chaos.records]
    if team is not None:
        from memhub.stress import team_integrity

        final_seq = team_store.last_seq(team)
        healths = [_caught_up_health(machine, final_seq) for machine in machines]
        sessions = [_await_sessions(ledger, team, start_seq) for ledger in sub_ledgers]
        for proc in subscribers:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(30)
        views = [
            team_integrity.MachineView(
                name=machine.name,
                mirror=health.mirror if health is not None else None,
                sessions=got,
                starts=starts,
                restarted=machine.kills > 0,
            )
            for machine, health, (got, starts) in zip(machines, healths, sessions, strict=True)
        ]
        checks = team_integrity.verify(
            team.target,
            records,
            expect(everything),
            views,
            {k: fleet.homes[k].name for k in range(config.clients)},
            embedder,
            start_seq=start_seq,
            exclusive=team.temporary,
        )
        health = healths[0]
        where = team.target.location
    else:
        assert db is not None
        assert machines[0].info is not None
        health = trio.run(daemon_health, machines[0].info)
        checks = integrity.verify(db, everything, embedder, exclusive=config.db is None)
        where = str(db)
    return _report(config, where, machines, fleet, records, run, health, checks)


@attrs.define
class _Fleet:
    """The client processes of a run (workers, then the legacy writer) and their ledgers."""

    starters: list[subprocess.Popen[bytes]]
    ledgers: list[Path]
    homes: dict[int, Machine]  # client number -> the machine whose daemon it uses


@attrs.define
class _Run:
    """What the supervision loop saw: wall time, peak RSS (MB), the chaos that acted."""

    wall: float
    chaos: ChaosContext
    peak_daemon: float = 0.0
    peak_daemons: float = 0.0
    peak_clients: float = 0.0


def _start_subscribers(
    machines: list[Machine], ledgers: list[Path]
) -> list[subprocess.Popen[bytes]]:
    """One subscriber per machine, recording every event its daemon sends."""
    subscribers = [
        _start(
            [
                sys.executable,
                "-m",
                "memhub.stress.subscriber",
                "--db",
                machine.store,
                "--ledger",
                str(ledger),
                "--name",
                f"subscriber-{machine.name}",
            ],
            machine.env,
        )
        for machine, ledger in zip(machines, ledgers, strict=True)
    ]
    _await_ready(subscribers, "subscriber")
    return subscribers


def _start_clients(
    config: RunConfig, work: Path, machines: list[Machine], db: Path | None, shared_rate: float
) -> _Fleet:
    """The workers (round-robin over the machines) and the legacy writer, all ready."""
    ledgers = [work / f"client{k}.jsonl" for k in range(config.clients)]
    homes = {k: machines[k % len(machines)] for k in range(config.clients)}
    starters = [
        _start(
            [
                sys.executable,
                "-m",
                "memhub.stress.worker",
                "--db",
                homes[k].store,
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
                "--shared-rate",
                str(shared_rate),
            ],
            homes[k].env,
        )
        for k in range(config.clients)
    ]
    if config.legacy_writer:
        if db is None:
            raise ValueError("--legacy-writer writes a SQLite file directly; not a team store")
        ledgers.append(work / "legacy.jsonl")
        starters.append(
            _start(
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
                machines[0].env,
            )
        )
    _await_ready(starters, "client")
    return _Fleet(starters=starters, ledgers=ledgers, homes=homes)


def _drive(
    config: RunConfig,
    machines: list[Machine],
    fleet: _Fleet,
    chaos_list: list[Chaos],
    progress: Any,
) -> _Run:
    """Start every client at once and supervise until they end: chaos, progress, peak RSS."""
    started = time.monotonic()
    for proc in fleet.starters:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
    run = _Run(wall=0.0, chaos=ChaosContext(started=started, machines=machines))
    sampled_at = 0.0
    while any(w.poll() is None for w in fleet.starters):
        now = time.monotonic()
        if now - sampled_at >= 1.0:
            # Sampling costs CPU the daemons need (a children() call scans all of /proc),
            # so sample once a second, and look for bridge children only with --via mcp.
            sampled_at = now
            mcp = config.via == "mcp"
            daemons = [machine.rss_mb() for machine in machines]
            run.peak_daemon = max(run.peak_daemon, *daemons)
            run.peak_daemons = max(run.peak_daemons, sum(daemons))
            clients = sum(_rss(w.pid, children=mcp) for w in fleet.starters)
            run.peak_clients = max(run.peak_clients, clients)
        run.chaos.ops = sum(_lines(p) for p in fleet.ledgers)
        for act in chaos_list:
            act(run.chaos)
        if progress is not None:
            progress(run.chaos.ops, now - started)
        time.sleep(0.25)
    run.wall = time.monotonic() - started
    return run


def _report(
    config: RunConfig,
    where: str,
    machines: list[Machine],
    fleet: _Fleet,
    records: list[dict[str, Any]],
    run: _Run,
    health: m.HealthReport | None,
    checks: list[Any],
) -> dict[str, Any]:
    failed = [w.returncode for w in fleet.starters if w.returncode != 0]
    errors: dict[str, int] = {}
    for r in records:
        if r["outcome"] == "error":
            key = r.get("error", "error").split(":", 1)[0]
            errors[key] = errors.get(key, 0) + 1
    wall = run.wall
    return {
        "config": {
            k: str(v) if isinstance(v, Path) else v for k, v in attrs.asdict(config).items()
        },
        "db": where,
        "wall_s": round(wall, 2),
        "ops": len(records),
        "ops_per_s": round(len(records) / wall, 2) if wall else 0.0,
        "per_op": stats.per_op(records, wall),
        "outcomes": _count(r["outcome"] for r in records),
        "errors": errors,
        "error_messages": sorted({str(r.get("error")) for r in records if r["outcome"] == "error"})[
            :50
        ],
        "client_failures": failed,
        "daemon_kills": sum(machine.kills for machine in machines),
        "writer": attrs.asdict(health.writer) if health else None,
        "embedder": attrs.asdict(health.embedder) if health else None,
        "peak_rss_mb": {
            "daemon": round(run.peak_daemon),
            "daemons_total": round(run.peak_daemons),
            "clients_total": round(run.peak_clients),
        },
        "machines": [
            {
                "name": machine.name,
                "clients": sum(1 for k in fleet.homes if fleet.homes[k] is machine),
                "kills": machine.kills,
            }
            for machine in machines
        ],
        "chaos": run.chaos.notes,
        "checks": [attrs.asdict(c) for c in checks],
        "passed": not errors and not failed and all(c.ok for c in checks),
    }


def _caught_up_health(machine: Machine, seq: int) -> m.HealthReport | None:
    """The machine's health once its mirror reflects the feed up to ``seq`` (or at the
    deadline, whatever it says then: the check reports it)."""
    deadline = time.monotonic() + CATCH_UP_S
    health = None
    while time.monotonic() < deadline:
        assert machine.info is not None
        health = trio.run(daemon_health, machine.info)
        if health is not None and health.mirror is not None and health.mirror.position >= seq:
            return health
        time.sleep(0.05)
    return health


Sessions = list[list[tuple[str, str, str, str]]]


def _read_sessions(ledger: Path) -> tuple[Sessions, list[float]]:
    """A subscriber's events by session, and when each session began."""
    sessions: dict[int, list[tuple[str, str, str, str]]] = {}
    starts: dict[int, float] = {}
    if ledger.exists():
        for line in ledger.read_text().splitlines():
            event = json.loads(line)
            number = int(event["session"])
            got = sessions.setdefault(number, [])
            if "start" in event:
                starts[number] = float(event["start"])
            if "kind" in event:
                got.append((event["kind"], event["hash"], event["origin"], event["client"]))
    order = sorted(sessions)
    return [sessions[k] for k in order], [starts.get(k, 0.0) for k in order]


def _await_sessions(ledger: Path, team: Any, start_seq: int) -> tuple[Sessions, list[float]]:
    """A subscriber's sessions once its last one has received the feed to its end (or at the
    deadline: the check then says what is missing)."""
    from memhub.stress.team_integrity import first_after, read_state

    state = read_state(team.target, start_seq)
    feed = state.feed
    deadline = time.monotonic() + CATCH_UP_S
    while True:
        sessions, starts = _read_sessions(ledger)
        if sessions:
            last = sessions[-1]
            must = len(feed) - first_after(state, starts[-1])  # at least this many
            if len(last) >= must and last == feed[len(feed) - len(last) :]:
                return sessions, starts
        if time.monotonic() > deadline:
            return sessions, starts
        time.sleep(0.05)


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


__all__ = ["Chaos", "ChaosContext", "RunConfig", "is_database_url", "run"]
