"""Build a large memhub SQLite store fast: memhub opens it, apsw fills it in bulk (issue 19).

Usage (through ``bench/million.py``, which adds ``measure``)::

    python bench/million.py build --rows 1000000 --db PATH [--real 20000] [--embedder model]

What the file holds, and how it is made:

* **Opened once by memhub itself**: :func:`memhub.storage.open_storage` with the settings the
  daemon reads from the environment (pragmas, schema generation), completed against the real
  embedder, then one empty write batch through the engine's write session, which records the
  embedder in ``metadata`` exactly as a first store would. So the schema (12.x layout by
  default), WAL and the recorded embedder are what ``memhub serve`` expects.
* **Rows in bulk**: one apsw connection opened with memhub's own ``connect`` and pragmas, large
  transactions of ``--chunk`` rows, each row written with exactly the columns
  ``storage/sqlite/writes.py`` writes (``content_hash`` from :mod:`memhub.domain.hashing`,
  tags as memhub's CSV, ``metadata`` as JSON, REAL ``created_at``/``updated_at`` plus their ISO
  texts, ``store``) and its vector in the ``memory_embeddings`` vec0 table at the same rowid.
  The FTS5 trigram index is filled by its own trigger, as for any insert (``--fts rebuild``
  drops that trigger for the load and rebuilds the index once at the end, re-creating the
  trigger from the very SQL text the file held).
* **Texts**: the stress harness's generator (:class:`memhub.stress.workload.Workload`): one to
  four sentences from per-topic grammars with names, numbers and versions in slots, each text
  unique (a ``[ref …]`` suffix). Every row has its own text and hash.
* **Vectors**: ``--real`` rows (default 20,000, spread evenly through the file) carry the real
  embedding of their own text (memhub's embedder, onnx backend, offline), cached in a ``.npy``
  beside the database so a rebuild does not embed again. Every other row carries a synthetic
  vector drawn from the same distribution: with ``mu``/``sigma`` the sample's per-dimension mean
  and spread and ``x_j`` a random real vector, ``normalize(mu + sqrt(1 - b^2) (x_j - mu) +
  b sigma z)``, ``z`` standard normal, ``b = --spread``. This keeps each dimension's mean and
  variance of the sample; the build reports how close the synthetic rows sit to their bases and
  to each other next to the same figures for the real sample. Synthetic rows' vectors are not
  embeddings of their texts (only the real rows' are).
* **Facets**: memory types from memhub's ontology (weighted, ``note`` most common); 0-4 tags per
  row from a Zipf-like vocabulary of 2,000 tags, plus one common tag (``COMMON_TAG``, ~30% of
  rows) and one rare tag (``RARE_TAG``, exactly every 1,000th row); ``created_at`` rising with
  the row id over ``--years`` (default 3) up to the build time, ``updated_at`` later for 5% of
  rows; 4% of rows in two named stores (12.x layout only), the rest in ``default``.

The builder streams: memory use is bounded by the chunk (texts, vectors, rows of one
transaction) and the real sample, whatever ``--rows`` is.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import attrs
import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from memhub.config import Settings  # noqa: E402
from memhub.domain.hashing import content_hash  # noqa: E402
from memhub.domain.ontology import known_types  # noqa: E402
from memhub.domain.tags import tags_to_db  # noqa: E402
from memhub.domain.timestamps import iso_utc  # noqa: E402
from memhub.embedding import Embedder, create_embedder  # noqa: E402
from memhub.storage import open_storage  # noqa: E402
from memhub.storage.sqlite import schema as schema_mod  # noqa: E402
from memhub.stress.workload import TOPICS, Workload  # noqa: E402

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

COMMON_TAG: Final = "work"
RARE_TAG: Final = "incident-7731"
RARE_EVERY: Final = 1000  # the rare tag is on rows i with i % RARE_EVERY == RARE_PHASE
RARE_PHASE: Final = 417
COMMON_SHARE: Final = 0.30
NAMED_STORES: Final = (("team-notes", 0.03), ("scratch", 0.01))
TYPE_WEIGHTS: Final = (
    ("note", 35),
    ("observation", 14),
    ("decision", 10),
    ("learning", 10),
    ("error", 7),
    ("pattern", 5),
    ("planning", 5),
    ("reference", 4),
    ("code_edit", 4),
    ("insight", 3),
    ("bug", 2),
    ("configuration", 1),
)
TAGS_PER_ROW: Final = ((0, 0.08), (1, 0.35), (2, 0.32), (3, 0.17), (4, 0.08))
SOURCES: Final = ("claude-code", "claude-desktop", "cursor")
VOCABULARY_SIZE: Final = 2000
#: Bump when what a seed generates changes: cached real vectors of another version are stale.
GENERATOR_VERSION: Final = 1


def vocabulary() -> list[str]:
    """2,000 tags: the stress topics' words, then numbered variants of them (Zipf-ranked)."""
    words = sorted({w for pool in TOPICS.values() for w in pool.split()} | set(TOPICS))
    tags = list(words)
    k = 2
    while len(tags) < VOCABULARY_SIZE:
        tags.extend(f"{w}-{k}" for w in words)
        k += 1
    tags = [t for t in tags if t not in (COMMON_TAG, RARE_TAG)]
    return tags[:VOCABULARY_SIZE]


@attrs.frozen(kw_only=True)
class Plan:
    """What to build; the same plan always gives the same file (but for the build time)."""

    rows: int
    real: int = 20_000
    seed: int = 19
    years: float = 3.0
    end: float = attrs.field(factory=time.time)
    spread: float = 0.6
    chunk: int = 20_000
    embedder: str = "model"  # "model" (the real model, onnx) or "hash" (tests)
    fts: str = "rebuild"  # "rebuild" (index built once at the end) or "trigger" (row by row)

    @property
    def real_rows(self) -> int:
        return max(1, min(self.real, self.rows))

    @property
    def start(self) -> float:
        return self.end - self.years * 365.25 * 86400

    def real_position(self, k: int) -> int:
        """The row index (0-based) of real sample ``k``: spread evenly through the file."""
        return (k * self.rows) // self.real_rows

    def time_of(self, i: int, jitter: float) -> float:
        """``created_at`` of row ``i``: rising with ``i`` from ``start`` to ``end``."""
        return self.start + (i + jitter) * (self.end - self.start) / self.rows


def real_texts(plan: Plan, count: int | None = None) -> list[str]:
    """The texts of the real sample, in order (deterministic for the seed)."""
    workload = Workload(seed=plan.seed, client=0)
    return [workload.text(k) for k in range(plan.real_rows if count is None else count)]


def synthetic_texts(plan: Plan) -> Iterator[str]:
    """Texts for every other row, in row order (one stream, deterministic for the seed)."""
    workload = Workload(seed=plan.seed, client=1)
    n = 0
    while True:
        yield workload.text(n)
        n += 1


def query_stream(seed: int) -> Iterator[str]:
    """Distinct search queries that are never stored (no ``[ref …]`` suffix, question form)."""
    workload = Workload(seed=seed, client=7)
    k = 0
    while True:
        sentence = workload.text(k).split(". ")[0].rstrip(".").split(" [ref")[0]
        yield f"what do we know about: {sentence.lower()}? ({k})"
        k += 1


def query_texts(seed: int, count: int) -> list[str]:
    return list(itertools.islice(query_stream(seed), count))


# -- real vectors ------------------------------------------------------------------------------


def make_embedder(kind: str) -> Embedder:
    threads = os.cpu_count() or 2
    return create_embedder("hash" if kind == "hash" else "model", "all-MiniLM-L6-v2", threads)


def cache_paths(db: Path, embedder_name: str, seed: int) -> tuple[Path, Path]:
    slug = "".join(c if c.isalnum() else "-" for c in embedder_name)
    base = db.with_name(f"{db.name}.real-{slug}-s{seed}-g{GENERATOR_VERSION}")
    return Path(f"{base}.npy"), Path(f"{base}.json")


def _texts_digest(texts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def load_or_embed(
    plan: Plan, embedder: Embedder, texts: Sequence[str], cache: Path, log: Any = print
) -> tuple[F32, dict[str, Any]]:
    """The vectors of ``texts`` (the real sample): from the ``.npy`` beside ``cache`` when it
    holds vectors of these texts or of a longer sample of the same seed (then its first rows),
    else embedded now (batches of 32 texts of like length) and saved there."""
    npy, meta_path = cache_paths(cache, embedder.name, plan.seed)
    info: dict[str, Any] = {"cache": str(npy), "embedder": embedder.name}
    if npy.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        count = int(meta.get("count", 0))
        if count >= len(texts):
            cached_texts = texts if count == len(texts) else real_texts(plan, count)
            if meta.get("digest") == _texts_digest(cached_texts):
                vecs = np.load(npy, mmap_mode="r")[: len(texts)]
                info.update(source="cache", embed_s=0.0)
                return np.ascontiguousarray(vecs, dtype=np.float32), info
    started = time.perf_counter()
    out = np.empty((len(texts), embedder.dimension), dtype=np.float32)
    batch = 32
    # Shortest first: a batch pads to its longest text, so batches of like lengths waste less.
    order = sorted(range(len(texts)), key=lambda k: len(texts[k]))
    for at in range(0, len(texts), batch):
        rows = order[at : at + batch]
        out[rows] = embedder.encode([texts[k] for k in rows])
        if at and at % (batch * 100) == 0:
            rate = at / (time.perf_counter() - started)
            log(f"  embedded {at:,} of {len(texts):,} real texts ({rate:.0f} texts/s)")
    elapsed = time.perf_counter() - started
    tmp = npy.with_name(npy.name + ".tmp.npy")
    np.save(tmp, out)
    tmp.replace(npy)
    meta_path.write_text(
        json.dumps(
            {
                "count": len(texts),
                "seed": plan.seed,
                "embedder": embedder.name,
                "generator": GENERATOR_VERSION,
                "digest": _texts_digest(texts),
                "embed_s": round(elapsed, 1),
            }
        )
    )
    rate = round(len(texts) / elapsed, 1)
    info.update(source="embedded", embed_s=round(elapsed, 1), texts_per_s=rate)
    return out, info


# -- synthetic vectors -------------------------------------------------------------------------


@attrs.frozen
class Synth:
    """Synthetic vectors around the real sample, keeping its per-dimension mean and spread."""

    real: F32
    mu: F64
    sigma: F64
    spread: float

    @classmethod
    def of(cls, real: F32, spread: float) -> Synth:
        sample = real.astype(np.float64)
        return cls(real, sample.mean(axis=0), sample.std(axis=0), spread)

    def draw(self, rng: np.random.Generator, bases: npt.NDArray[np.int64]) -> F32:
        b = self.spread
        mu = self.mu.astype(np.float32)
        v = self.real[bases] - mu
        v *= np.float32(math.sqrt(1.0 - b * b))
        noise = rng.standard_normal(v.shape, dtype=np.float32)
        noise *= (b * self.sigma).astype(np.float32)
        v += noise
        v += mu
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        return v

    def quality(self, rng: np.random.Generator, n: int = 2000) -> dict[str, float]:
        """How synthetic rows relate to their bases and neighbours, next to the real sample's.

        ``*_nn_cos_median``: median cosine of a row's nearest neighbour among ``n`` rows of the
        same kind (real sample rows vs synthetic rows drawn from random bases).
        """
        n = min(n, len(self.real))
        pick = rng.choice(len(self.real), size=n, replace=False)
        real = self.real[pick].astype(np.float64)
        bases = rng.integers(0, len(self.real), size=n)
        synth = self.draw(rng, bases).astype(np.float64)
        to_base = np.einsum("ij,ij->i", synth, self.real[bases].astype(np.float64))

        def nn_median(x: F64) -> float:
            sims = x @ x.T
            np.fill_diagonal(sims, -2.0)
            return float(np.median(sims.max(axis=1)))

        return {
            "synthetic_to_base_cos_median": round(float(np.median(to_base)), 4),
            "real_nn_cos_median": round(nn_median(real), 4),
            "synthetic_nn_cos_median": round(nn_median(synth), 4),
            "real_mean_pair_cos": round(float((real @ real.T).mean()), 4),
            "synthetic_mean_pair_cos": round(float((synth @ synth.T).mean()), 4),
        }


# -- rows --------------------------------------------------------------------------------------


class Facets:
    """Tags, types, stores and metadata of rows, drawn per chunk (vectorised where it pays)."""

    def __init__(self, plan: Plan, has_store: bool) -> None:
        self.plan = plan
        self.vocab = vocabulary()
        weights = np.array([1.0 / (r + 1) for r in range(len(self.vocab))])
        self.tag_cdf = np.cumsum(weights) / weights.sum()
        names, type_w = zip(*TYPE_WEIGHTS, strict=True)
        assert set(names) <= known_types(), "every type must be one memhub keeps as is"
        self.types = list(names)
        self.type_p = np.array(type_w, dtype=np.float64) / sum(type_w)
        counts, count_p = zip(*TAGS_PER_ROW, strict=True)
        self.counts = np.array(counts)
        self.count_p = np.array(count_p)
        self.stores = ["default", *(name for name, _ in NAMED_STORES)] if has_store else []
        share = [1.0 - sum(s for _, s in NAMED_STORES), *(s for _, s in NAMED_STORES)]
        self.store_p = np.array(share)

    def draw(self, rng: np.random.Generator, first: int, n: int) -> list[tuple[str, str, str, str]]:
        """``(tags_db, memory_type, metadata_json, store)`` for rows ``first .. first+n-1``."""
        k = rng.choice(self.counts, size=n, p=self.count_p)
        picks = np.searchsorted(self.tag_cdf, rng.random((n, int(self.counts.max()))))
        types = rng.choice(len(self.types), size=n, p=self.type_p)
        common = rng.random(n) < COMMON_SHARE
        store_ix = (
            rng.choice(len(self.stores), size=n, p=self.store_p)
            if self.stores
            else np.zeros(n, dtype=np.int64)
        )
        meta_roll = rng.random(n)
        sources = rng.integers(0, len(SOURCES), size=n)
        out = []
        for j in range(n):
            i = first + j
            tags = list(dict.fromkeys(self.vocab[t] for t in picks[j, : k[j]]))
            if common[j]:
                tags.append(COMMON_TAG)
            if i % RARE_EVERY == RARE_PHASE:
                tags.append(RARE_TAG)
            if meta_roll[j] < 0.25:
                metadata = json.dumps({"source": SOURCES[sources[j]]})
            else:
                metadata = json.dumps({})
            store = self.stores[store_ix[j]] if self.stores else "default"
            out.append((tags_to_db(tags), self.types[types[j]], metadata, store))
        return out


# -- the build ---------------------------------------------------------------------------------


def _remove(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def open_with_memhub(db: Path, embedder: Embedder) -> dict[str, Any]:
    """Create the file through memhub's own engine; the schema it made, as the daemon sees it."""
    env = dict(os.environ, MEMHUB_EMBEDDER=embedder.kind)
    settings = Settings.from_env(env, db=str(db))
    opening = open_storage(settings)
    storage = opening.complete(embedder)
    try:
        # An empty batch: BEGIN IMMEDIATE, the embedder recorded as on a first store, COMMIT.
        storage.writer.run_batch([])
        stats = storage.describe()
    finally:
        storage.close()
    return {"schema": stats.schema, "pragmas": settings.pragmas}


def build(
    plan: Plan,
    db: Path,
    *,
    force: bool = False,
    check: bool = True,
    embedder: Embedder | None = None,
    vectors_cache: Path | None = None,
    log: Any = print,
) -> dict[str, Any]:
    """Build the store of ``plan`` at ``db``; returns the figures of the build."""
    db = db.resolve()
    if db.exists():
        if not force:
            raise SystemExit(f"{db} exists; pass --force to replace it")
        _remove(db)
    t0 = time.perf_counter()
    embedder = embedder or make_embedder(plan.embedder)
    opened = open_with_memhub(db, embedder)
    real_texts_list = real_texts(plan)
    real, vec_info = load_or_embed(plan, embedder, real_texts_list, vectors_cache or db, log)
    t_vectors = time.perf_counter()
    settings = Settings.from_env(dict(os.environ, MEMHUB_EMBEDDER=embedder.kind), db=str(db))
    conn = schema_mod.connect(db, readonly=False, pragmas=settings.pragmas)
    schema = schema_mod.inspect(conn, db)
    assert schema is not None
    assert schema.embedder == embedder.name, schema
    assert schema.dimension == real.shape[1]
    # Connection-level only (nothing in the file changes): the bulk load need not fsync.
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")  # 256 MiB
    fts_trigger = None
    if plan.fts == "rebuild" and schema.has_fts:
        found = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type='trigger' AND name='memories_fts_ai'"
        ).fetchall()
        fts_trigger = str(found[0][0])
        conn.execute("DROP TRIGGER memories_fts_ai")
    synth = Synth.of(real, plan.spread)
    facets = Facets(plan, schema.has_store)
    rng = np.random.default_rng(plan.seed)
    texts = synthetic_texts(plan)
    columns = [
        "id",
        "content_hash",
        "content",
        "tags",
        "memory_type",
        "metadata",
        "created_at",
        "updated_at",
        "created_at_iso",
        "updated_at_iso",
    ]
    if schema.has_store:
        columns.append("store")
    insert_row = (
        f"INSERT INTO memories ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    )
    insert_vec = (
        "INSERT INTO memory_embeddings (rowid, content_embedding, store) VALUES (?, ?, ?)"
        if schema.vec_partitioned
        else "INSERT INTO memory_embeddings (rowid, content_embedding) VALUES (?, ?)"
    )
    next_real = 0
    seconds = {"texts": 0.0, "vectors": 0.0, "rows": 0.0, "insert": 0.0}
    started = time.perf_counter()
    for first in range(0, plan.rows, plan.chunk):
        n = min(plan.chunk, plan.rows - first)
        t = time.perf_counter()
        chunk_texts: list[str] = []
        real_ix: list[tuple[int, int]] = []  # (offset in chunk, real sample index)
        for j in range(n):
            i = first + j
            if next_real < plan.real_rows and plan.real_position(next_real) == i:
                chunk_texts.append(real_texts_list[next_real])
                real_ix.append((j, next_real))
                next_real += 1
            else:
                chunk_texts.append(next(texts))
        t1 = time.perf_counter()
        vecs = synth.draw(rng, rng.integers(0, len(real), size=n))
        for j, k in real_ix:
            vecs[j] = real[k]
        t2 = time.perf_counter()
        jitter = rng.random(n)
        updated_roll = rng.random(n)
        drawn = facets.draw(rng, first, n)
        rows: list[tuple[Any, ...]] = []
        vec_rows: list[tuple[Any, ...]] = []
        for j in range(n):
            i = first + j
            rowid = i + 1
            created = plan.time_of(i, float(jitter[j]))
            updated = created
            if updated_roll[j] < 0.05:
                updated = min(plan.end, created + float(updated_roll[j]) * 20 * 30 * 86400)
            tags, memory_type, metadata, store = drawn[j]
            text = chunk_texts[j]
            row: tuple[Any, ...] = (
                rowid,
                content_hash(text),
                text,
                tags,
                memory_type,
                metadata,
                created,
                updated,
                iso_utc(created),
                iso_utc(updated),
            )
            blob = vecs[j].astype("<f4").tobytes()
            if schema.has_store:
                row = (*row, store)
            rows.append(row)
            vec_rows.append((rowid, blob, store) if schema.vec_partitioned else (rowid, blob))
        t3 = time.perf_counter()
        with conn:
            conn.executemany(insert_row, rows)
            conn.executemany(insert_vec, vec_rows)
        t4 = time.perf_counter()
        seconds["texts"] += t1 - t
        seconds["vectors"] += t2 - t1
        seconds["rows"] += t3 - t2
        seconds["insert"] += t4 - t3
        done = first + n
        rate = done / (t4 - started)
        log(f"  {done:,} of {plan.rows:,} rows ({rate:,.0f} rows/s)")
    t_rows = time.perf_counter()
    fts_s = 0.0
    if fts_trigger is not None:
        with conn:
            conn.execute("INSERT INTO memory_content_fts(memory_content_fts) VALUES ('rebuild')")
            conn.execute(fts_trigger)
        fts_s = time.perf_counter() - t_rows
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    t_done = time.perf_counter()
    integrity = None
    check_s = None
    if check:
        integrity = ", ".join(str(r[0]) for r in conn.execute("PRAGMA integrity_check"))
        check_s = round(time.perf_counter() - t_done, 1)
    count = conn.execute("SELECT COUNT(*) FROM memories").fetchall()[0][0]
    vec_count = conn.execute("SELECT COUNT(*) FROM memory_embeddings").fetchall()[0][0]
    conn.close()
    insert_s = t_done - t_vectors
    return {
        "db": str(db),
        "rows": plan.rows,
        "real_rows": plan.real_rows,
        "memories": count,
        "vectors": vec_count,
        "embedder": embedder.name,
        "schema": opened["schema"],
        "real_vectors": vec_info,
        "synthetic_quality": synth.quality(np.random.default_rng(plan.seed + 1)),
        "fts": plan.fts,
        "rows_per_s": round(plan.rows / insert_s),
        "insert_s": round(insert_s, 1),
        "seconds_by_stage": {k: round(v, 1) for k, v in seconds.items()},
        "fts_rebuild_s": round(fts_s, 1),
        "total_s": round(t_done - t0, 1),
        "integrity_check": integrity,
        "integrity_check_s": check_s,
        "file_mb": round(db.stat().st_size / 2**20),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--real", type=int, default=20_000, help="rows with real embeddings")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--years", type=float, default=3.0)
    parser.add_argument("--spread", type=float, default=0.6, help="synthetic noise share b")
    parser.add_argument("--chunk", type=int, default=20_000, help="rows per transaction")
    parser.add_argument("--embedder", default="model", choices=("model", "hash"))
    parser.add_argument("--fts", default="rebuild", choices=("rebuild", "trigger"))
    parser.add_argument("--force", action="store_true", help="replace an existing file")
    parser.add_argument("--skip-check", action="store_true", help="no integrity_check at the end")
    parser.add_argument("--json", type=Path)


def run_build(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    plan = Plan(
        rows=args.rows,
        real=args.real,
        seed=args.seed,
        years=args.years,
        spread=args.spread,
        chunk=args.chunk,
        embedder=args.embedder,
        fts=args.fts,
    )

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    result = build(plan, args.db, force=args.force, check=not args.skip_check, log=log)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(parser)
    run_build(parser.parse_args())


if __name__ == "__main__":
    main()
