"""``memhub stress``: many real client processes against one daemon, then verify the file.

By default it starts its own daemon on a fresh temporary database and removes it afterwards;
``--db`` targets another database (its existing rows are left alone) and ``--keep`` keeps the
temporary one. ``--db postgresql://…`` runs against a team store instead: ``--machines`` daemons,
each with its own HOME, state directory and machine name, on a fresh schema of that database
(dropped afterwards unless ``--keep``; ``--schema`` names an existing store), the clients spread
over them. Exit status 0 only when no op failed and every integrity check passed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import attrs
from rich.console import Console
from rich.live import Live
from rich.table import Table

from memhub.storage.postgres.target import is_database_url
from memhub.stress import stats
from memhub.stress.orchestrator import RunConfig, run


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="memhub stress", description=__doc__)
    p.add_argument("--clients", type=int, default=8, help="client processes (default 8)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds per run (default 30)")
    p.add_argument("--ops", type=int, default=0, help="stop each client after N ops")
    p.add_argument("--rate", type=float, default=0.0, help="ops/s per client (open loop)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--embedder", choices=("model", "hash"), default="model")
    p.add_argument(
        "--via",
        choices=("protocol", "mcp"),
        default="protocol",
        help="mcp: real `memhub bridge` processes driven by the MCP SDK client",
    )
    p.add_argument(
        "--db",
        help="target this database file instead of a temporary one, or a team store's URL "
        "postgresql://user@host/db (password from ~/.pgpass or MEMHUB_DATABASE_PASSWORD_FILE)",
    )
    p.add_argument(
        "--machines",
        type=int,
        default=1,
        help="team store only: daemons as separate machines; --clients are spread over them",
    )
    p.add_argument(
        "--schema", help="team store only: use this prepared schema, not a temporary one"
    )
    p.add_argument(
        "--shared-rate",
        type=float,
        default=None,
        help="share of stores drawn from texts every client stores (default 0.15 on a team "
        "store, 0 on a file): duplicates that race across clients and machines",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary database")
    p.add_argument(
        "--compare",
        action="store_true",
        help="run with 1 client, then with --clients, and print the ratios",
    )
    p.add_argument(
        "--kill-daemon-every",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="SIGKILL the daemon every N seconds (it is restarted)",
    )
    p.add_argument(
        "--legacy-writer",
        action="store_true",
        help="also write the file directly, the way mcp-memory-service does",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p


def _config(args: argparse.Namespace, clients: int) -> RunConfig:
    url = args.db if is_database_url(args.db) else None
    return RunConfig(
        clients=clients,
        duration=args.duration,
        ops=args.ops,
        rate=args.rate,
        seed=args.seed,
        embedder=args.embedder,
        via=args.via,
        db=None if url is not None or args.db is None else Path(args.db),
        keep=args.keep,
        kill_every=args.kill_daemon_every,
        legacy_writer=args.legacy_writer,
        url=url,
        machines=args.machines,
        schema=args.schema,
        shared_rate=args.shared_rate,
    )


def _table(report: dict[str, Any]) -> Table:
    cfg = report["config"]
    where = f" on {cfg['machines']} machines" if cfg.get("url") else ""
    table = Table(
        title=f"{cfg['clients']} client(s){where} via {cfg['via']}, embedder {cfg['embedder']}"
        f": {report['ops']} ops in {report['wall_s']} s"
    )
    for column in ("op", "count", "per s", "p50 ms", "p95 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="right")
    for op, row in report["per_op"].items():
        table.add_row(
            op,
            str(row["count"]),
            str(row["per_s"]),
            str(row["p50_ms"]),
            str(row["p95_ms"]),
            str(row["p99_ms"]),
            str(row["max_ms"]),
        )
    return table


def _print(console: Console, report: dict[str, Any]) -> None:
    console.print(_table(report))
    writer, embedder = report["writer"] or {}, report["embedder"] or {}
    console.print(
        f"outcomes {report['outcomes']}  errors {report['errors'] or 'none'}  daemon kills "
        f"{report['daemon_kills']}  writer mean batch {writer.get('mean_batch_size', '?'):.2f} "
        f"(max {writer.get('max_batch_size', '?')}, busy retries {writer.get('busy_retries', '?')})"
        f"  embedder mean batch {embedder.get('mean_batch_size', 0):.2f}  peak RSS "
        f"daemon {report['peak_rss_mb']['daemon']} MB, "
        f"clients {report['peak_rss_mb']['clients_total']} MB"
    )
    for check in report["checks"]:
        mark = "[green]✓[/]" if check["ok"] else "[red]✗[/]"
        console.print(f"  {mark} {check['name']}: {check['detail']}")


def _one(args: argparse.Namespace, console: Console, clients: int, rate: float) -> dict[str, Any]:
    with Live(console=console, transient=True) as live:

        def progress(ops: int, elapsed: float) -> None:
            live.update(f"{clients} client(s), rate {rate or 'max'}: {ops} ops in {elapsed:.1f} s")

        report = run(attrs.evolve(_config(args, clients), rate=rate), progress)
    if not args.json:
        _print(console, report)
    return report


def main_stress(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    team = is_database_url(args.db)
    if not team and (args.machines != 1 or args.schema):
        parser.error("--machines and --schema need a team store: --db postgresql://…")
    if team and args.legacy_writer:
        parser.error("--legacy-writer writes a SQLite file; a team store has none")
    console = Console(stderr=args.json)
    result: dict[str, Any] = {}
    if args.compare:
        # The acceptance criterion has two parts: latency at light load (open loop, the same
        # modest rate per client) and throughput at saturation (closed loop).
        light = args.rate or 1.0
        runs = [_one(args, console, k, light) for k in (1, args.clients)]
        runs += [_one(args, console, k, 0.0) for k in (1, args.clients)]
        one_light, many_light, one_sat, many_sat = runs
        result["compare"] = {
            "light_rate_per_client": light,
            "light_load_p50_ratio": {
                op: stats.ratio(many_light["per_op"][op]["p50_ms"], row["p50_ms"])
                for op, row in one_light["per_op"].items()
                if op in many_light["per_op"]
            },
            "saturation_throughput_ratio": stats.ratio(many_sat["ops_per_s"], one_sat["ops_per_s"]),
        }
        if not args.json:
            console.print(f"{args.clients} clients vs 1: {result['compare']}")
    else:
        runs = [_one(args, console, args.clients, args.rate)]
    result = {"runs": runs, "passed": all(r["passed"] for r in runs), **result}
    if args.json:
        print(json.dumps(result, indent=2))
    elif not result["passed"]:
        console.print("[red]stress run FAILED[/]")
    return 0 if result["passed"] else 1
