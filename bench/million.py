"""A million memories (issue 19): build a large store fast, then measure a real daemon on it.

Usage::

    python bench/million.py build --rows 1000000 --db PATH [--real 20000]
    python bench/million.py measure --db PATH [--queries 200] [--peer] [--json out.json]

``build`` is :mod:`million_build` (its docstring says what the file holds). ``measure`` talks
to memhub only through processes: ``memhub serve --db PATH`` spawned as a client would, real
``memhub bridge`` processes under the MCP SDK's stdio client, and the protocol client
(:mod:`memhub.transport.client`) for what the web UI asks. Each figure is its own entry in the
JSON:

* ``start``: spawn of ``memhub serve`` -> runtime file published (ready), and spawn -> the
  first search answered over the protocol (retried while the daemon says it is starting);
  daemon RSS when ready. The file is in the OS page cache (the bench read it just before).
* ``search``: ``memory_search`` through a bridge, p50/p99, one distinct never-stored query text
  per call, round-robin over four cases in a shuffled order each round: no filter, the common
  tag (~30% of rows), the rare tag (0.1%), a time range (~1/6 of the span). For every call
  the bench computes the exact top 10 itself (numpy float64 over every vector read from the
  file, the same filters, the same query embedded by memhub's embedder in this process) and
  reports recall@10 of the bridge's hits against it.
* ``rss``: the daemon's and the bridge's RSS after the searches.
* ``reads``: p50 of ``memory_list`` (page 1, and a page in the middle of the list), tag search
  and time search (``memory_search`` without a query: tags; ``time_expr``; ``after``/
  ``before``), ``memory_health``, all through the bridge; and the web UI's aggregates
  (``count_tags``/``count_types``/``count_days`` over the protocol: the first request, a full
  count, and the p50 of the repeats).
* ``stores``: ``memory_store`` p50/p99 through a bridge into this file and, interleaved store
  by store in the same run, into a fresh 1,000-row store built by the same code (its own
  daemon and bridge); the ratio of the p50s. Stored texts are fresh for every run; the rows
  stored into the measured file are deleted again at the end (soft delete, as memhub does).
* ``peer`` (``--peer``): mcp-memory-service 12.4's ``SqliteVecMemoryStorage.retrieve`` in its
  own process (its 12.4 virtualenv, offline model) on a *copy* of the same file (its searches
  write access metadata), interleaved with the bridge's searches, same cases, its own distinct
  query texts; p50/p99 of the in-process call and recall@10 against the same brute force.
"""

from __future__ import annotations

import os

# As memhub serve does for itself (the bench process embeds every query too). BLAS keeps its
# threads: the brute force runs while the daemon is idle, between the timed parts.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse
import contextlib
import json
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar

import attrs
import numpy as np
import numpy.typing as npt
import psutil
import trio
from mcp import Client, StdioServerParameters

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT / "src"))

import million_build as mb  # noqa: E402

from memhub.config import runtime_paths  # noqa: E402
from memhub.discovery import read_runtime_file, running_as_daemon_of, spawn_daemon  # noqa: E402
from memhub.embedding import Embedder  # noqa: E402
from memhub.protocol import messages as m  # noqa: E402
from memhub.storage.sqlite import schema as schema_mod  # noqa: E402
from memhub.storage.sqlite.values import as_int  # noqa: E402
from memhub.stress.workload import Workload  # noqa: E402
from memhub.transport.client import open_daemon_client  # noqa: E402

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
T = TypeVar("T")
K: Final = 10
WARMUP: Final = 10
BENCH_TAG: Final = "million-bench"
HASH_RE: Final = re.compile(r"Hash: ([0-9a-f]{64})")
CASES: Final = ("unfiltered", "common_tag", "rare_tag", "time_range")


def ms(seconds: Sequence[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    if not ordered:
        return {"n": 0}
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def rss_mb(pid: int) -> float:
    try:
        return round(float(psutil.Process(pid).memory_info().rss) / 2**20, 1)
    except psutil.Error:
        return float("nan")


# -- the file, as the brute force sees it ------------------------------------------------------


@attrs.define
class FileFacts:
    """Every searchable row of the file: ids, facets the filters need, unit vectors."""

    ids: npt.NDArray[np.int64]
    created: F64
    default_store: npt.NDArray[np.bool_]
    common: npt.NDArray[np.bool_]
    rare: npt.NDArray[np.bool_]
    vectors: F32
    embedder: str
    generation: str
    first: float
    last: float

    @property
    def rows(self) -> int:
        return len(self.ids)


def read_file(db: Path) -> FileFacts:
    """Read the rows a default-store search may return, and their vectors, read-only.

    The rules are the ones memhub documents for a search (not soft-deleted, not pending an
    embedding, not superseded; the store ``default``); tags as memhub matches them (spaces
    removed, ASCII case ignored).
    """
    conn = schema_mod.connect(db, readonly=True, pragmas={"busy_timeout": "5000"})
    schema = schema_mod.inspect(conn, db)
    assert schema is not None, f"{db} holds no memories"
    cols = schema.memory_columns

    def like(tag: str) -> str:
        return f"(',' || LOWER(REPLACE(m.tags, ' ', '')) || ',') LIKE '%,{tag},%'"

    store = "m.store = 'default'" if "store" in cols else "1"
    where = ["m.deleted_at IS NULL"]
    if "embedding_pending" in cols:
        where.append("(m.embedding_pending IS NULL OR m.embedding_pending = 0)")
    if "superseded_by" in cols:
        where.append("(m.superseded_by IS NULL OR m.superseded_by = '')")
    conn.execute("BEGIN")
    condition = " AND ".join(where)
    (count,) = conn.execute(f"SELECT COUNT(*) FROM memories m WHERE {condition}").fetchall()[0]
    n = as_int(count)
    ids = np.zeros(n, dtype=np.int64)
    created = np.zeros(n, dtype=np.float64)
    flags = np.zeros((n, 3), dtype=bool)
    at = 0
    for rowid, created_at, *row_flags in conn.execute(
        f"SELECT m.id, m.created_at, {store}, {like(mb.COMMON_TAG)}, {like(mb.RARE_TAG)} "
        f"FROM memories m WHERE {condition} ORDER BY m.id"
    ):
        ids[at] = rowid
        created[at] = float(created_at or 0.0)
        flags[at] = row_flags
        at += 1
    assert at == n
    position = np.full(int(ids.max()) + 1 if n else 1, -1, dtype=np.int64)
    position[ids] = np.arange(n)
    vectors = np.zeros((n, schema.dimension), dtype=np.float32)
    has_vector = np.zeros(n, dtype=bool)
    size = 4 * schema.dimension
    for rowid, blob in conn.execute("SELECT rowid, content_embedding FROM memory_embeddings"):
        if not isinstance(blob, bytes) or len(blob) != size or rowid >= len(position):
            continue
        at = position[rowid]
        if at >= 0:
            vectors[at] = np.frombuffer(blob, dtype="<f4")
            has_vector[at] = True
    conn.execute("COMMIT")
    conn.close()
    # Unit rows, in place and by blocks: a million rows are 1.5 GB, no full-size temporaries.
    keep = has_vector
    for at in range(0, n, 65536):
        block = vectors[at : at + 65536]
        norms = np.linalg.norm(block, axis=1)
        keep[at : at + 65536] &= norms > 0
        np.divide(block, norms[:, None], out=block, where=norms[:, None] > 0)
    if not keep.all():  # rows without a usable vector are not searchable: leave them out
        vectors = vectors[keep]
    return FileFacts(
        ids=ids[keep],
        created=created[keep],
        default_store=flags[keep, 0],
        common=flags[keep, 1],
        rare=flags[keep, 2],
        vectors=vectors,
        embedder=schema.embedder or "",
        generation=schema.generation,
        first=float(created.min()) if n else 0.0,
        last=float(created.max()) if n else 0.0,
    )


@attrs.frozen
class Case:
    """One search case: the bridge's extra arguments and the brute force's row mask."""

    name: str
    arguments: dict[str, Any]
    mask: npt.NDArray[np.bool_]
    peer: dict[str, Any]  # retrieve()'s keyword arguments for mcp-memory-service


def iso_z(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parsed(iso: str) -> float:
    """The epoch memhub reads from an ``after``/``before`` value (``fromisoformat``)."""
    return datetime.fromisoformat(iso).timestamp()


def search_cases(facts: FileFacts) -> list[Case]:
    base = facts.default_store
    span = facts.last - facts.first
    after_s = iso_z(facts.first + 0.40 * span)
    before_s = iso_z(facts.first + 0.40 * span + span / 6)
    after, before = parsed(after_s), parsed(before_s)
    in_range = (facts.created >= after) & (facts.created <= before)
    return [
        Case("unfiltered", {}, base, {}),
        Case(
            "common_tag", {"tags": [mb.COMMON_TAG]}, base & facts.common, {"tags": [mb.COMMON_TAG]}
        ),
        Case("rare_tag", {"tags": [mb.RARE_TAG]}, base & facts.rare, {"tags": [mb.RARE_TAG]}),
        Case(
            "time_range",
            {"after": after_s, "before": before_s},
            base & in_range,
            {"start_time": after, "end_time": before},
        ),
    ]


def brute_force(
    facts: FileFacts, queries: F32, masks: Sequence[npt.NDArray[np.bool_]], k: int = K
) -> tuple[list[list[int]], F64]:
    """The exact top ``k`` row ids for each query among the rows of its mask (float64; ties
    by rowid, as memhub orders them), and their cosines ``(k, queries)``, ``-inf`` where
    fewer rows match. Streams over the vectors in blocks."""
    q = queries.astype(np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    nq = len(q)
    groups: dict[int, list[int]] = {}
    distinct: list[npt.NDArray[np.bool_]] = []
    for j, mask in enumerate(masks):
        for g, other in enumerate(distinct):
            if other is mask:
                groups[g].append(j)
                break
        else:
            groups[len(distinct)] = [j]
            distinct.append(mask)
    best_s = np.full((k, nq), -np.inf)
    best_i = np.full((k, nq), np.iinfo(np.int64).max, dtype=np.int64)
    block = 16384
    for at in range(0, facts.rows, block):
        v = facts.vectors[at : at + block].astype(np.float64)
        scores = v @ q.T  # (block, nq)
        ids = facts.ids[at : at + block]
        for g, cols in groups.items():
            sub = scores[:, cols]
            sub[~distinct[g][at : at + block]] = -np.inf
            take = min(k, len(v))
            top = np.argpartition(-sub, take - 1, axis=0)[:take]
            cand_s = np.concatenate([best_s[:, cols], np.take_along_axis(sub, top, axis=0)])
            cand_i = np.concatenate([best_i[:, cols], ids[top]])
            order = np.lexsort((cand_i, -cand_s), axis=0)[:k]
            best_s[:, cols] = np.take_along_axis(cand_s, order, axis=0)
            best_i[:, cols] = np.take_along_axis(cand_i, order, axis=0)
    ids_out = [
        [int(i) for i, s in zip(best_i[:, j], best_s[:, j], strict=True) if np.isfinite(s)]
        for j in range(nq)
    ]
    return ids_out, best_s


def ids_of_hashes(db: Path, hashes: set[str]) -> dict[str, int]:
    conn = schema_mod.connect(db, readonly=True, pragmas={"busy_timeout": "5000"})
    found: dict[str, int] = {}
    listed = sorted(hashes)
    for at in range(0, len(listed), 500):
        part = listed[at : at + 500]
        marks = ",".join("?" * len(part))
        for h, rowid in conn.execute(
            f"SELECT content_hash, id FROM memories WHERE content_hash IN ({marks})", part
        ):
            found[str(h)] = int(rowid)
    conn.close()
    return found


def recall(got: Sequence[int], truth: Sequence[int]) -> float:
    if not truth:
        return 1.0 if not got else 0.0
    return len(set(got[: len(truth)]) & set(truth)) / len(truth)


# -- processes ---------------------------------------------------------------------------------


def process_env(db: Path, embedder_kind: str) -> dict[str, str]:
    return dict(
        os.environ,
        MEMHUB_EMBEDDER=embedder_kind,
        MCP_MEMORY_SQLITE_PATH=str(db),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )


def bridge_params(db: Path, embedder_kind: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "memhub", "bridge"],
        env=process_env(db, embedder_kind),
    )


def tool_text(result: Any) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


@attrs.define
class Daemon:
    proc: subprocess.Popen[bytes]
    url: str
    token: str
    pid: int
    log: Path


async def start_daemon(
    db: Path,
    embedder_kind: str,
    log: Path,
    first_query: str,
    profiler: Profiler | None = None,
) -> tuple[Daemon, dict[str, Any]]:
    """Spawn ``memhub serve``; time it to the runtime file and to the first search answered."""
    runtime = runtime_paths(db).runtime
    env = process_env(db, embedder_kind)
    started = time.perf_counter()
    proc = spawn_daemon(db, log, env)
    if profiler is not None:
        profiler.start("start", proc.pid)
    while True:
        info = read_runtime_file(runtime)
        if info is not None and info.pid == proc.pid:
            break
        if proc.poll() is not None:
            raise RuntimeError(f"memhub serve exited with {proc.returncode}; see {log}")
        if time.perf_counter() - started > 900:
            raise TimeoutError(f"memhub serve did not publish its runtime file; see {log}")
        await trio.sleep(0.01)
    ready = time.perf_counter() - started
    ready_rss = rss_mb(proc.pid)
    attempts = 0
    errors: list[str] = []
    while True:
        attempts += 1
        try:
            async with open_daemon_client(info.url, info.token, client_name="million") as c:
                reply = await c.call(m.Search(id=0, query=first_query, limit=K))
            assert isinstance(reply, m.SearchResult)
            break
        except Exception as exc:  # a daemon still starting answers with an error: try again
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
            if time.perf_counter() - started > 900:
                raise
            await trio.sleep(0.02)
    first = time.perf_counter() - started
    if profiler is not None:
        profiler.stop()
    daemon = Daemon(proc, info.url, info.token, proc.pid, log)
    return daemon, {
        "spawn_to_ready_s": round(ready, 3),
        "spawn_to_first_search_s": round(first, 3),
        "first_search_attempts": attempts,
        "first_search_errors": errors[:3],
        "first_search_hits": len(reply.hits),
        "daemon_rss_at_ready_mb": ready_rss,
    }


def stop_daemon(daemon: Daemon) -> float:
    """SIGTERM and wait (the daemon drains, commits and checkpoints); seconds it took."""
    started = time.perf_counter()
    daemon.proc.terminate()
    try:
        daemon.proc.wait(300)
    except subprocess.TimeoutExpired:
        daemon.proc.kill()
        daemon.proc.wait(60)
    return round(time.perf_counter() - started, 2)


def bridge_pid(db: Path) -> int | None:
    me = psutil.Process()
    for child in me.children(recursive=True):
        try:
            cmd = child.cmdline()
            if "bridge" in cmd and child.environ().get("MCP_MEMORY_SQLITE_PATH") == str(db):
                return int(child.pid)
        except psutil.Error:
            continue
    return None


class Profiler:
    """``py-spy record`` attached to a daemon for one figure (``--py-spy DIR``), summarised.

    Samples only threads that run (no ``--idle``), 100 per second. The summary names the
    memhub functions that were on the stack in the largest share of the samples (inclusive)
    and the innermost frames (self), so the JSON says where a slow figure spends its time.
    """

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self._proc: subprocess.Popen[bytes] | None = None
        self._path: Path | None = None
        self.summaries: dict[str, Any] = {}

    def start(self, name: str, pid: int) -> None:
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        self._path = self.directory / f"{name}.txt"
        self._name = name
        argv = [self.exe, "record", "-p", str(pid), "-o", str(self._path), "--format", "raw"]
        self._proc = subprocess.Popen(
            [*argv, "--rate", "100", "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.3)  # attached before the figure starts

    def stop(self) -> None:
        proc, path, self._proc = self._proc, self._path, None
        if proc is None or path is None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
        if path.exists():
            self.summaries[self._name] = profile_summary(path)


#: Frames of the event loop, threads and the interpreter: on every stack, never the answer.
_FRAMEWORK: Final = re.compile(
    r"\((trio|anyio|outcome|mcp|asyncio|concurrent)/|\((threading|runpy|contextlib|selectors)\.py"
    r"|<frozen|\(<string>"
)


def profile_summary(path: Path, top: int = 12) -> dict[str, Any]:
    """Shares of the samples: functions on the stack (inclusive; the event loop, thread
    plumbing and frames on nearly every stack left out) and innermost frames (self)."""
    inclusive: dict[str, int] = {}
    innermost: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")[1:]]
        if not frames:
            continue
        total += count
        innermost[frames[-1]] = innermost.get(frames[-1], 0) + count
        for frame in set(frames):
            if not _FRAMEWORK.search(frame):
                inclusive[frame] = inclusive.get(frame, 0) + count

    def shares(counts: dict[str, int], roots: bool) -> list[tuple[str, float]]:
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])
        # Without roots: frames on (nearly) every stack that do little themselves (main, serve).
        kept = [
            (k, round(v / total, 3))
            for k, v in ranked
            if roots or v < 0.95 * total or innermost.get(k, 0) >= 0.5 * total
        ]
        return kept[:top]

    return {
        "samples": total,
        "inclusive": shares(inclusive, roots=False) if total else [],
        "innermost": shares(innermost, roots=True) if total else [],
    }


# -- mcp-memory-service 12.4, in its own process -------------------------------------------------

PEER_SCRIPT: Final = r"""
import asyncio, json, sys, time
import pysqlite3.dbapi2
sys.modules["sqlite3"] = pysqlite3.dbapi2
sys.modules["sqlite3.dbapi2"] = pysqlite3.dbapi2
out = sys.stdout
sys.stdout = sys.stderr  # stray prints must not reach our JSON lines

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

def say(obj):
    out.write(json.dumps(obj) + "\n")
    out.flush()

async def main():
    import mcp_memory_service
    from mcp_memory_service.storage.sqlite_vec import SqliteVecMemoryStorage
    job = json.loads(sys.stdin.readline())
    started = time.perf_counter()
    storage = SqliteVecMemoryStorage(job["db"])
    await storage.initialize()
    model = getattr(storage, "embedding_model", None)
    say({"ready": True, "version": mcp_memory_service.__version__,
         "init_s": time.perf_counter() - started, "rss_mb": rss_mb(),
         "model": type(model).__name__ if model is not None else None})
    for line in sys.stdin:
        op = json.loads(line)
        if op.get("op") == "quit":
            break
        if op.get("op") == "rss":
            say({"rss_mb": rss_mb()})
            continue
        t = time.perf_counter()
        found = await storage.retrieve(op["query"], n_results=op["k"], **op.get("kw", {}))
        elapsed = time.perf_counter() - t
        say({"s": elapsed, "hashes": [r.memory.content_hash for r in found]})
    say({"rss_mb": rss_mb()})

asyncio.run(main())
"""


def peer_python(explicit: Path | None) -> Path | None:
    """The 12.4 virtualenv's Python: ``--peer-python``, else one memhub's compat tests built."""
    if explicit is not None:
        return explicit
    sys.path.insert(0, str(ROOT))
    from tests.compat.mms_env import venv_info, venv_python

    return venv_python("12.4.0") if venv_info("12.4.0") is not None else None


def copy_database(db: Path, copy: Path) -> float:
    """Copy the file (and its -wal, if any: a checkpointed file has none); seconds taken."""
    began = time.perf_counter()
    shutil.copyfile(db, copy)
    if Path(f"{db}-wal").exists():
        shutil.copyfile(f"{db}-wal", f"{copy}-wal")
    return time.perf_counter() - began


class Peer:
    """mcp-memory-service's storage in a child process, one retrieve per request line."""

    def __init__(self, python: Path, copy: Path, work: Path) -> None:
        sys.path.insert(0, str(ROOT))
        from tests.compat.mms_env import mms_env_vars

        env = mms_env_vars(work, copy, semantic_dedup=False)
        self.stderr = open(work / "peer.stderr", "w")  # noqa: SIM115  (closed in close())
        self.proc = subprocess.Popen(
            [str(python), "-I", "-c", PEER_SCRIPT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env=env,
            cwd=work,
            text=True,
        )
        self.work = work
        self.ready = self._ask({"db": str(copy)})

    def _ask(self, obj: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(30)
            tail = (self.work / "peer.stderr").read_text()[-3000:]
            raise RuntimeError(f"mcp-memory-service exited ({self.proc.returncode}): {tail}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def search(self, query: str, kw: dict[str, Any]) -> tuple[float, list[str]]:
        answer = self._ask({"op": "search", "query": query, "k": K, "kw": kw})
        return float(answer["s"]), list(answer["hashes"])

    def rss(self) -> float:
        return float(self._ask({"op": "rss"})["rss_mb"])

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(RuntimeError, OSError, ValueError):
                self._ask({"op": "quit"})
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        self.stderr.close()

    def stderr_tail(self) -> str:
        return (self.work / "peer.stderr").read_text()[-2000:]


# -- the measurement -----------------------------------------------------------------------------


@attrs.define
class Options:
    db: Path
    queries: int = 200
    repeat: int = 20
    stores: int = 60
    peer: bool = False
    peer_python: Path | None = None
    small_rows: int = 1000
    seed: int = 29
    py_spy: Path | None = None  # profile the daemon figure by figure into this directory


async def timed(fn: Callable[..., Awaitable[T]], *args: Any) -> tuple[float, T]:
    started = time.perf_counter()
    result = await fn(*args)
    return time.perf_counter() - started, result


async def measure(opts: Options, embedder: Embedder, facts: FileFacts, out: dict[str, Any]) -> None:
    """Every figure into ``out`` as it is taken (so a failure keeps the ones before it)."""
    db = opts.db
    kind = "hash" if facts.embedder.startswith("hash") else "model"
    work = Path(tempfile.mkdtemp(prefix="million-"))
    cases = search_cases(facts)
    out["cases"] = {c.name: {"matching_rows": int(c.mask.sum()), **c.arguments} for c in cases}
    rng = random.Random(opts.seed)
    texts = mb.query_stream(opts.seed)

    peer: Peer | None = None
    if opts.peer:
        python = peer_python(opts.peer_python)
        if python is None or not python.exists():
            out["peer"] = {"error": "no mcp-memory-service 12.4 virtualenv (pass --peer-python)"}
        else:
            copy = work / "peer-copy.db"
            copy_s = copy_database(db, copy)
            try:
                peer = Peer(python, copy, work)
                out["peer"] = {"copy_s": round(copy_s, 1), "init": peer.ready}
            except RuntimeError as exc:
                out["peer"] = {"error": str(exc)}

    profiler = Profiler(opts.py_spy)
    daemon, out["start"] = await start_daemon(db, kind, work / "daemon.log", next(texts), profiler)
    print(json.dumps({"start": out["start"]}), file=sys.stderr, flush=True)
    small: Daemon | None = None
    try:
        async with Client(bridge_params(db, kind), mode="legacy") as client:
            out["search"], peer_rows = await _searches(
                opts, client, embedder, facts, cases, texts, rng, peer
            )
            if peer is not None:
                out["peer"].update(peer_rows)
                out["peer"]["rss_mb"] = peer.rss()
                peer.close()
                peer = None
            print(json.dumps({"search": out["search"]}), file=sys.stderr, flush=True)
            out["rss"] = {
                "daemon_after_searches_mb": rss_mb(daemon.pid),
                "bridge_mb": rss_mb(bridge_pid(db) or -1),
            }
            if opts.py_spy is not None:
                await _profile_searches(client, daemon, cases, texts, profiler)
            out["reads"] = await _reads(opts, client, daemon, facts, profiler)
            print(json.dumps({"reads": out["reads"]}), file=sys.stderr, flush=True)
            small_db = work / "small.db"
            built = mb.build(
                mb.Plan(rows=opts.small_rows, real=opts.small_rows, embedder=kind),
                small_db,
                embedder=embedder,
                vectors_cache=db,
                log=lambda line: None,
            )
            small, _ = await start_daemon(small_db, kind, work / "small.log", next(texts))
            async with Client(bridge_params(small_db, kind), mode="legacy") as small_client:
                profiler.start("stores", daemon.pid)
                out["stores"] = await _stores(opts, client, small_client, daemon)
                profiler.stop()
            out["stores"]["small_store"] = {
                "rows": built["rows"],
                "real_vectors": built["real_vectors"]["source"],
            }
            out["rss"]["daemon_after_stores_mb"] = rss_mb(daemon.pid)
    finally:
        if peer is not None:
            peer.close()
        if small is not None:
            stop_daemon(small)
        profiler.stop()
        out.setdefault("stop", {})["daemon_stop_s"] = stop_daemon(daemon)
        if profiler.summaries:
            out["profiles"] = profiler.summaries
    shutil.rmtree(work, ignore_errors=True)


async def _searches(
    opts: Options,
    client: Client,
    embedder: Embedder,
    facts: FileFacts,
    cases: list[Case],
    texts: Any,
    rng: random.Random,
    peer: Peer | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Round-robin over the cases; every call a fresh query; brute force afterwards."""
    lat: dict[str, list[float]] = {c.name: [] for c in cases}
    peer_lat: dict[str, list[float]] = {c.name: [] for c in cases}
    asked: list[tuple[str, str, int, list[str]]] = []  # (who, query, case index, hashes)
    short = 0
    for round_no in range(WARMUP + opts.queries):
        order = list(range(len(cases)))
        rng.shuffle(order)
        for ci in order:
            case = cases[ci]
            query = next(texts)
            args = {"query": query, "limit": K, **case.arguments}
            elapsed, result = await timed(client.call_tool, "memory_search", args)
            text = tool_text(result)
            if result.is_error:
                raise RuntimeError(f"memory_search failed: {text[:500]}")
            hashes = HASH_RE.findall(text)
            if round_no >= WARMUP:
                lat[case.name].append(elapsed)
                asked.append(("memhub", query, ci, hashes))
                short += len(hashes) < min(K, int(case.mask.sum()))
            if peer is not None:
                query = next(texts)
                elapsed, hashes = peer.search(query, case.peer)
                if round_no >= WARMUP:
                    peer_lat[case.name].append(elapsed)
                    asked.append(("peer", query, ci, hashes))
    began = time.perf_counter()
    vectors = np.stack([embedder.encode([q])[0] for _, q, _, _ in asked])
    truth, cosines = brute_force(facts, vectors, [cases[ci].mask for _, _, ci, _ in asked])
    brute_s = time.perf_counter() - began
    ids = ids_of_hashes(opts.db, {h for *_, hashes in asked for h in hashes})
    recalls: dict[tuple[str, str], list[float]] = {}
    top: dict[str, list[tuple[float, float]]] = {}
    for j, (who, _, ci, hashes) in enumerate(asked):
        got = [ids.get(h, -1) for h in hashes]
        recalls.setdefault((who, cases[ci].name), []).append(recall(got, truth[j]))
        finite = cosines[:, j][np.isfinite(cosines[:, j])]
        if len(finite):
            top.setdefault(cases[ci].name, []).append((float(finite[0]), float(finite[-1])))

    def summary(who: str, latencies: dict[str, list[float]]) -> dict[str, Any]:
        return {
            name: {
                **ms(values),
                "recall_at_10": round(statistics.mean(recalls[who, name]), 4),
                "recall_at_10_min": round(min(recalls[who, name]), 2),
            }
            for name, values in latencies.items()
        }

    search = {"via": "MCP stdio -> memhub bridge -> daemon", **summary("memhub", lat)}
    for name, pairs in top.items():  # how near the exact neighbours are (context, not speed)
        search[name]["exact_top1_cos_median"] = round(float(np.median([a for a, _ in pairs])), 4)
        search[name]["exact_top10_cos_median"] = round(float(np.median([b for _, b in pairs])), 4)
    search["short_answers"] = short
    search["brute_force_s"] = round(brute_s, 1)
    peer_rows = {"search": summary("peer", peer_lat)} if peer is not None else {}
    return search, peer_rows


async def _profile_searches(
    client: Client, daemon: Daemon, cases: list[Case], texts: Iterator[str], profiler: Profiler
) -> None:
    """Extra searches of one case at a time under the profiler (not in the timed figures)."""
    for case in cases:
        profiler.start(f"search_{case.name}", daemon.pid)
        for _ in range(30):
            args = {"query": next(texts), "limit": K, **case.arguments}
            await client.call_tool("memory_search", args)
        profiler.stop()


async def _reads(
    opts: Options, client: Client, daemon: Daemon, facts: FileFacts, profiler: Profiler
) -> dict[str, Any]:
    total_pages = max(1, -(-facts.rows // 20))
    span = facts.last - facts.first
    window = {
        "after": iso_z(facts.first + 0.7 * span),
        "before": iso_z(facts.first + 0.7 * span + 7 * 86400),
    }
    calls: dict[str, tuple[str, dict[str, Any]]] = {
        "list_page_1": ("memory_list", {"page": 1, "page_size": 20}),
        f"list_page_{total_pages // 2}": (
            "memory_list",
            {"page": total_pages // 2, "page_size": 20},
        ),
        "tag_search_rare": ("memory_search", {"tags": [mb.RARE_TAG], "limit": K}),
        "tag_search_common": ("memory_search", {"tags": [mb.COMMON_TAG], "limit": K}),
        "time_search_time_expr_last_week": (
            "memory_search",
            {"time_expr": "last week", "limit": K},
        ),
        "time_search_after_before_7_days": ("memory_search", {**window, "limit": K}),
        "memory_health": ("memory_health", {}),
    }
    out: dict[str, Any] = {}
    for name, (tool, args) in calls.items():
        profiler.start(name, daemon.pid)
        samples = []
        first_text = ""
        failed: list[str] = []
        for i in range(opts.repeat + 1):
            elapsed, result = await timed(client.call_tool, tool, args)
            text = tool_text(result)
            # An error answer (memory_list past the query timeout, say) is a result: counted,
            # quoted, and left out of the latencies.
            if result.is_error or text.startswith("Error"):
                failed.append(text[:300])
            elif i == 0:
                first_text = text
                first = elapsed
            else:
                samples.append(elapsed)
        profiler.stop()
        out[name] = {**ms(samples), "answer": first_text[:160]}
        if first_text:
            out[name]["first_ms"] = round(first * 1000, 2)
        if failed:
            out[name].update(errors=len(failed), error=failed[0])
    async with open_daemon_client(daemon.url, daemon.token, client_name="million-ui") as ui:
        requests: dict[str, m.Request] = {
            "ui_count_tags": m.CountTags(id=0, limit=200),
            "ui_count_types": m.CountTypes(id=0),
            "ui_count_days": m.CountDays(id=0, days=30),
        }
        for name, request in requests.items():
            profiler.start(name, daemon.pid)
            first, _ = await timed(ui.call, request)
            samples = [(await timed(ui.call, request))[0] for _ in range(opts.repeat)]
            profiler.stop()
            out[name] = {**ms(samples), "first_ms": round(first * 1000, 2)}
    return out


async def _stores(opts: Options, big: Client, small: Client, daemon: Daemon) -> dict[str, Any]:
    """Stores into the measured file and into the fresh 1k store, interleaved, fresh texts."""
    nonce = f"{os.getpid()}-{int(time.time())}"
    workload = Workload(seed=int(time.time()) % 100000, client=5)
    lat: dict[str, list[float]] = {"measured": [], "small": []}
    outcomes: dict[str, dict[str, int]] = {"measured": {}, "small": {}}
    for i in range(WARMUP // 2 + opts.stores):
        pair = [("measured", big), ("small", small)]
        if i % 2:
            pair.reverse()
        for name, client in pair:
            text = workload.text(2 * i + (name == "small")).replace("[ref c5-", f"[ref {nonce}-")
            args = {"content": text, "tags": [BENCH_TAG], "memory_type": "note"}
            elapsed, result = await timed(client.call_tool, "memory_store", args)
            answer = tool_text(result)
            kind = "stored" if "stored successfully" in answer else answer.split("(")[0][:60]
            outcomes[name][kind] = outcomes[name].get(kind, 0) + 1
            if i >= WARMUP // 2:
                lat[name].append(elapsed)
    async with open_daemon_client(daemon.url, daemon.token, client_name="million") as c:
        deleted = await c.call(m.Delete(id=0, tags=[BENCH_TAG]))
    assert isinstance(deleted, m.Deleted)
    measured, small_ = ms(lat["measured"]), ms(lat["small"])
    return {
        "via": "MCP stdio -> memhub bridge -> daemon, one store at a time, interleaved",
        "measured_file": measured,
        "fresh_1k": small_,
        "p50_ratio": round(measured["p50_ms"] / small_["p50_ms"], 3),
        "outcomes": outcomes,
        "deleted_again": len(deleted.content_hashes),
    }


def run_measure(args: argparse.Namespace) -> dict[str, Any]:
    db = args.db.resolve()
    if running_as_daemon_of(db) is not None:
        raise SystemExit(f"a daemon already serves {db}; stop it first (memhub stop --db {db})")
    began = time.perf_counter()
    facts = read_file(db)
    read_s = time.perf_counter() - began
    print(f"read {facts.rows:,} rows and vectors in {read_s:.1f} s", file=sys.stderr, flush=True)
    embedder = mb.make_embedder("hash" if facts.embedder.startswith("hash") else "model")
    assert embedder.name == facts.embedder, (embedder.name, facts.embedder)
    opts = Options(
        db=db,
        queries=args.queries,
        repeat=args.repeat,
        stores=args.stores,
        peer=args.peer,
        peer_python=args.peer_python,
        py_spy=args.py_spy,
    )
    load = os.getloadavg()
    result: dict[str, Any] = {
        "db": str(db),
        "rows": facts.rows,
        "file_mb": round(db.stat().st_size / 2**20),
        "embedder": facts.embedder,
        "schema": facts.generation,
        "host": {"cores": os.cpu_count(), "load_before": [round(x, 2) for x in load]},
        "bench_read_file_s": round(read_s, 1),
    }
    try:
        trio.run(measure, opts, embedder, facts, result)
    except BaseException as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        raise
    finally:
        result["host"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(result, indent=2))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    mb.add_arguments(sub.add_parser("build", help="build a store (see bench/million_build.py)"))
    measure_p = sub.add_parser("measure", help="measure a real daemon and bridge on a store")
    measure_p.add_argument("--db", type=Path, required=True)
    measure_p.add_argument("--queries", type=int, default=200, help="searches per case")
    measure_p.add_argument("--repeat", type=int, default=20, help="calls per read figure")
    measure_p.add_argument("--stores", type=int, default=60, help="stores per store")
    measure_p.add_argument("--peer", action="store_true", help="mcp-memory-service 12.4 too")
    measure_p.add_argument("--peer-python", type=Path, help="the 12.4 virtualenv's python")
    measure_p.add_argument("--py-spy", type=Path, help="profile each figure into this dir")
    measure_p.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.command == "build":
        mb.run_build(args)
    else:
        run_measure(args)


if __name__ == "__main__":
    main()
