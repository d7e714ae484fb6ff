"""``memhub migrate SRC DST``: copy every memory from one store to another, losslessly.

SRC and DST are each a SQLite file (mcp-memory-service 10.x/12.x or memhub's) or a team store's
URL (``postgresql://user@host/db``; ``MEMHUB_PG_SCHEMA`` names its schema). Every row is copied
as it is: hash, content, tags, type, metadata text, both epochs and ISO strings, tombstones,
12.x's columns, and the vectors, unless the two stores hold different models: then it says so
and stops, and ``--re-embed`` embeds every live memory again with the model memhub is configured
with. Rows go in id order, in chunks of one transaction each, and a row whose content hash the
destination already holds is left alone, so a second run copies nothing and an interrupted one
picks up where it stopped. At the end both sides are read back and compared: counts and a digest
of every column (and of the vectors, when they were copied).

Running daemons: a team store is written the way its daemons write it (the store's advisory
lock, a ``stored`` change per copied row), so every machine's daemon may keep serving it and
sees the new memories as they commit. A SQLite file is written only while no daemon serves it:
the migration takes the file's daemon lock, or refuses.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Final, Literal

from memhub.migration.edges import CHUNK as EDGE_CHUNK
from memhub.migration.edges import EdgeRow
from memhub.migration.rows import Row, SideSummary, problem
from memhub.migration.sides import Destination, MigrateError, ModelInfo, Source

EXIT_OK, EXIT_DIFFERENT, EXIT_REFUSED = 0, 1, 2
CHUNK: Final = 500
HASH_EMBEDDER: Final = "hash:v1"


def _is_url(spec: str) -> bool:
    return spec.startswith(("postgresql://", "postgres://"))


def open_source(spec: str) -> Source:
    if _is_url(spec):
        from memhub.migration.postgres_side import PgSource

        return PgSource(spec, os.environ)
    from memhub.migration.sqlite_side import SqliteSource

    return SqliteSource(Path(spec).expanduser().resolve())


def open_destination(spec: str, *, layout: str, machine: str) -> Destination:
    if _is_url(spec):
        from memhub.migration.postgres_side import PgDestination

        return PgDestination(spec, os.environ, machine=machine)
    from memhub.migration.sqlite_side import SqliteDestination

    generation: Literal["v10", "v12"] = "v10" if layout == "v10" else "v12"
    return SqliteDestination(Path(spec).expanduser().resolve(), layout=generation)


def same_model(src: ModelInfo, dst: ModelInfo) -> tuple[bool, str]:
    """Whether ``src``'s vectors may be copied into ``dst``, and a note to print."""
    if dst.dimension is None:
        return True, "a new file: it takes the source's model"
    if src.dimension != dst.dimension:
        return (
            False,
            f"the source's vectors have {src.dimension} dimensions, "
            f"the destination's {dst.dimension}",
        )
    if src.name is not None and dst.name is not None:
        if src.name == dst.name:
            return True, f"both hold {src.name}"
        return False, f"the source holds vectors of {src.name}, the destination of {dst.name}"
    known = src.name or dst.name
    if known == HASH_EMBEDDER:
        return False, "one side holds the test-only hash embedder's vectors, the other real ones"
    return True, (
        f"one side does not record its model (mcp-memory-service's files do not); both have "
        f"{src.dimension} dimensions, so it is taken to be {known or 'the same model'}. If it "
        "was written with another model, run again with --re-embed"
    )


def _embedder(dst: ModelInfo) -> Any:
    """memhub's configured embedder, which must be the destination's model."""
    from memhub.config import Settings
    from memhub.daemon import embedder_factory

    settings = Settings.from_env()
    model = embedder_factory(settings)()
    if dst.name is not None and model.name != dst.name:
        raise MigrateError(
            f"--re-embed embeds with memhub's configured model, {model.name}, but the "
            f"destination holds {dst.name}; set MEMHUB_EMBEDDER / MCP_EMBEDDING_MODEL to it"
        )
    return model


def _reembedded(rows: list[Row], model: Any) -> list[Row]:
    import attrs

    live = [i for i, row in enumerate(rows) if row.vector is not None]
    if not live:
        return rows
    vectors = model.encode([str(rows[i].get("content")) for i in live])
    out = list(rows)
    for i, vector in zip(live, vectors, strict=True):
        out[i] = attrs.evolve(rows[i], vector=vector)
    return out


def migrate(
    src_spec: str,
    dst_spec: str,
    *,
    re_embed: bool = False,
    layout: str = "v12",
    chunk: int = CHUNK,
    limit: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Run one migration; its report (``verified`` says whether both sides are equal).

    Raises:
        MigrateError: refused before anything was written (another model without
            ``--re-embed``, a daemon serving the SQLite file, no write privilege, ...).
    """
    from memhub.config import machine_name

    started = time.monotonic()
    source = open_source(src_spec)
    try:
        destination = open_destination(dst_spec, layout=layout, machine=machine_name(os.environ))
    except BaseException:
        source.close()
        raise
    try:
        return _copy(source, destination, re_embed, chunk, limit, progress, started)
    finally:
        destination.close()
        source.close()


def _copy(
    source: Source,
    destination: Destination,
    re_embed: bool,
    chunk: int,
    limit: int,
    progress: bool,
    started: float,
) -> dict[str, Any]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    same, note = same_model(source.model, destination.model)
    if not same and not re_embed:
        raise MigrateError(
            f"{note}: copying them would mix two models in one store. Nothing was written; "
            "run again with --re-embed to embed every memory with the destination's model"
        )
    model = _embedder(destination.model) if re_embed else None
    target_model = ModelInfo(model.name, model.dimension) if model is not None else source.model
    destination.prepare(destination.model if destination.model.dimension else target_model)
    with_vector = model is None
    total = source.count() if not limit else min(limit, source.count())
    src_summary = SideSummary()
    hashes: set[str] = set()
    copied = present = 0
    problems: list[str] = []
    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not progress,
        transient=True,
    )
    with bar:
        task = bar.add_task("copying", total=total)
        seen = 0
        for rows in source.chunks(chunk):
            if limit:
                rows = rows[: max(0, limit - seen)]
            if not rows:
                break
            seen += len(rows)
            src_summary.add_all(rows, with_vector=with_vector)
            hashes.update(row.content_hash for row in rows)
            good = []
            for row in rows:
                why = problem(row) or destination.problem(row)
                if why is None:
                    good.append(row)
                else:
                    problems.append(f"{row.content_hash[:12]}…: {why}")
            if model is not None:
                good = _reembedded(good, model)
            if good:
                done, held = destination.write(good)
                copied += done
                present += held
            bar.update(
                task, advance=len(rows), description=f"copied {copied}, already there {present}"
            )
    graph = _copy_edges(source, destination, problems)
    destination.finish()
    copy_s = time.monotonic() - started
    dst_summary = destination.summarize(hashes, with_vector=with_vector)
    extra = destination.extra_rows(hashes)
    verified = src_summary.same_as(dst_summary) and graph["held"] == graph["source"]
    return {
        "source": source.location,
        "destination": destination.location,
        "model": note if model is None else f"re-embedded with {model.name}",
        "rows": src_summary.rows,
        "copied": copied,
        "already_there": present,
        "problems": problems,
        "source_summary": _summary(src_summary),
        "destination_summary": _summary(dst_summary),
        "vectors_compared": with_vector,
        "destination_extra_rows": extra,
        "graph_edges": graph,
        "verified": verified,
        "copy_s": round(copy_s, 2),
        "total_s": round(time.monotonic() - started, 2),
    }


def _copy_edges(source: Source, destination: Destination, problems: list[str]) -> dict[str, int]:
    """Copy ``memory_graph`` after the memories (its rows name memories by hash), in chunks;
    how many the source has, were copied, and the destination holds of them afterwards."""
    keys: set[tuple[str, str]] = set()
    copied = 0
    chunk: list[EdgeRow] = []
    can_hold = destination.has_graph
    for edge in source.edges():
        keys.add((str(edge[0]), str(edge[1])))
        if not can_hold:
            continue
        chunk.append(edge)
        if len(chunk) == EDGE_CHUNK:
            copied += destination.write_edges(chunk)
            chunk = []
    if chunk:
        copied += destination.write_edges(chunk)
    if keys and not can_hold:
        problems.append(
            f"{len(keys)} memory_graph rows not copied: {destination.location} has no "
            "memory_graph table (a 10.x layout); migrate with --layout v12 to keep them"
        )
    held = destination.edges_held(keys) if can_hold else 0
    return {"source": len(keys), "copied": copied, "held": held}


def _summary(summary: SideSummary) -> dict[str, Any]:
    return {
        "rows": summary.rows,
        "active": summary.active,
        "deleted": summary.deleted,
        "with_vector": summary.with_vector,
        "digest": summary.digest,
    }


def _print(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"{report['source']} → {report['destination']}  ({report['model']})")
    console.print(
        f"copied {report['copied']} of {report['rows']} rows, {report['already_there']} were "
        f"already there, in {report['copy_s']} s"
    )
    table = Table(title="verification")
    for column in ("", "rows", "active", "deleted", "with vector", "digest"):
        table.add_column(column)
    for side in ("source", "destination"):
        s = report[f"{side}_summary"]
        table.add_row(
            side,
            str(s["rows"]),
            str(s["active"]),
            str(s["deleted"]),
            str(s["with_vector"]),
            s["digest"],
        )
    console.print(table)
    graph = report["graph_edges"]
    if graph["source"]:
        console.print(
            f"memory_graph: {graph['copied']} of {graph['source']} edges copied, the destination "
            f"holds {graph['held']} of them"
        )
    what = "every column and the vectors" if report["vectors_compared"] else "every column"
    if report["verified"]:
        console.print(f"[green]✓ both sides hold the same {report['rows']} rows ({what})[/]")
    else:
        console.print("[red]✗ the destination differs from the source[/]")
    for line in report["problems"][:20]:
        console.print(f"  not copied: {line}")
    if report["destination_extra_rows"]:
        console.print(
            f"  the destination also holds {report['destination_extra_rows']} rows of its own "
            "(left as they were)"
        )


def main_migrate(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="memhub migrate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("src", help="a SQLite file or postgresql://user@host/db")
    parser.add_argument("dst", help="a SQLite file (created if missing) or postgresql://…")
    parser.add_argument("--re-embed", action="store_true", help="embed again with memhub's model")
    parser.add_argument(
        "--layout",
        choices=("v10", "v12"),
        default=os.environ.get("MEMHUB_NEW_SCHEMA", "v12"),
        help="layout of a new SQLite destination (default MEMHUB_NEW_SCHEMA or v12)",
    )
    parser.add_argument("--chunk", type=int, default=CHUNK, help="rows per transaction")
    parser.add_argument("--limit", type=int, default=0, help="copy at most N rows (a trial run)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        report = migrate(
            args.src,
            args.dst,
            re_embed=args.re_embed,
            layout=args.layout,
            chunk=max(1, args.chunk),
            limit=max(0, args.limit),
            progress=not args.json and sys.stderr.isatty(),
        )
    except MigrateError as exc:
        print(f"memhub migrate: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report)
    return EXIT_OK if report["verified"] else EXIT_DIFFERENT
