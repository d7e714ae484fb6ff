"""The two-pass search returns exactly what the one-pass float32 search returns.

Correctness only (no timings): recall@k = 1.0 against exact search on the benchmark's sets,
the int8 error bound holds on adversarial vectors, filters still apply before the cut, and the
first pass really does shortlist (otherwise the two-pass search would be a slow exact one).
"""

from __future__ import annotations

import statistics
import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from memhub.storage import int8codes
from memhub.storage.mirror import TWO_PASS_MIN_ROWS, VectorIndex

from .vector_sets import SETS, queries_for, random_set, vector_set

SIZE = 12_000
QUERIES = 25


def build(
    data: npt.NDArray[np.float32],
    *,
    two_pass: bool,
    first_id: int = 1,
    rows_on_disk: Path | None = None,
) -> VectorIndex:
    index = VectorIndex(data.shape[1], two_pass=two_pass, rows_on_disk=rows_on_disk)
    for i, row in enumerate(data):
        index.add(first_id + i, row, float(i))
    return index


def exact_top(
    data: npt.NDArray[np.float32],
    query: npt.NDArray[np.float32],
    k: int,
    rows: npt.NDArray[np.intp],
) -> list[int]:
    """Brute force in float64 over ``rows`` (row i has rowid i + 1)."""
    sims = data[rows].astype(np.float64) @ query.astype(np.float64)
    return [int(rows[i]) + 1 for i in np.argsort(-sims, kind="stable")[:k]]


def assert_same(got: list[tuple[int, float]], want: list[tuple[int, float]]) -> None:
    """Same rows in the same order; distances equal up to float32 summation order."""
    assert [r for r, _ in got] == [r for r, _ in want]
    assert [d for _, d in got] == pytest.approx([d for _, d in want], abs=1e-6)


@pytest.fixture(scope="module", params=[(s, where) for s in SETS for where in ("ram", "disk")])
def vector_data(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, npt.NDArray[np.float32], VectorIndex, VectorIndex]:
    name, where = request.param
    data = vector_set(name, SIZE)
    disk = tmp_path_factory.mktemp("rows") if where == "disk" else None
    fast = build(data, two_pass=True, rows_on_disk=disk)
    return name, data, fast, build(data, two_pass=False)


@pytest.fixture(params=["ram", "disk"])
def rows_on_disk(request: pytest.FixtureRequest, tmp_path: Path) -> Path | None:
    """Where the fast index keeps its float32 rows (the reference always keeps them in RAM)."""
    return tmp_path if request.param == "disk" else None


@pytest.mark.parametrize("k", [1, 10, 50])
def test_recall_is_one_against_exact_search(vector_data, k):
    name, data, fast, reference = vector_data
    everything = np.arange(data.shape[0])
    for query in queries_for(name, data, QUERIES):
        got = fast.nearest(query, k)
        assert_same(got, reference.nearest(query, k))
        # recall@k against an independent float64 brute force
        assert {r for r, _ in got} == set(exact_top(data, query, k, everything))


@pytest.mark.parametrize("share", [0.5, 0.2, 0.01])
def test_filters_apply_before_the_cut(vector_data, share):
    """Half the rows (a scan with a mask), a fifth and a hundredth (the first pass gathers
    the competing rows' codes: with rows on disk even a few hundred rows take two passes)."""
    name, data, fast, reference = vector_data
    rng = np.random.default_rng(5)
    allowed_rows = np.sort(rng.choice(data.shape[0], int(data.shape[0] * share), replace=False))
    allowed = allowed_rows.astype(np.int64) + 1
    recent_from = float(data.shape[0] * 0.6)  # rows were added with created_at = their index
    for query in queries_for(name, data, 10, seed=9):
        got = fast.nearest(query, 10, allowed=allowed)
        assert_same(got, reference.nearest(query, 10, allowed=allowed))
        assert [r for r, _ in got] == exact_top(data, query, 10, allowed_rows)

        best = [r for r, _ in reference.nearest(query, 5)]
        got = fast.nearest(query, 10, created_since=recent_from, exclude=best)
        assert_same(got, reference.nearest(query, 10, created_since=recent_from, exclude=best))
        rows = np.array(
            [i for i in range(int(recent_from), data.shape[0]) if i + 1 not in best],
            dtype=np.intp,
        )
        assert [r for r, _ in got] == exact_top(data, query, 10, rows)


def test_a_filter_gathering_thousands_of_rows_is_exact(rows_on_disk):
    """Enough competing rows for two passes in RAM too (4,096 or more), few enough (a quarter
    or less) for the first pass to gather their codes instead of scanning every row."""
    data = random_set(4 * TWO_PASS_MIN_ROWS + 500, 384, 13)
    fast = build(data, two_pass=True, rows_on_disk=rows_on_disk)
    rng = np.random.default_rng(3)
    allowed_rows = np.sort(rng.choice(data.shape[0], TWO_PASS_MIN_ROWS + 100, replace=False))
    assert allowed_rows.shape[0] <= int8codes.GATHER_MAX_SHARE * data.shape[0]
    allowed = allowed_rows.astype(np.int64) + 1
    for query in queries_for("random", data, 10, seed=4):
        got = fast.nearest(query, 10, allowed=allowed)
        assert [r for r, _ in got] == exact_top(data, query, 10, allowed_rows)


def test_first_pass_shortlists_a_small_candidate_set(vector_data):
    name, data, _, _ = vector_data
    codes, steps, slack = int8codes.encode(data)
    sizes = [
        int8codes.candidate_rows(q, codes, steps, slack, 10).shape[0]
        for q in queries_for(name, data, QUERIES)
    ]
    # The exact pass then ranks a small share of the rows: ~1% typically, a few % at worst
    # (a query inside a dense group of texts sharing words has many rows within the bound).
    assert statistics.median(sizes) < data.shape[0] * 0.02, sizes
    assert max(sizes) < data.shape[0] * 0.10, sizes
    assert min(sizes) >= 10


def test_error_bound_holds_on_adversarial_vectors():
    dim = 384
    one_hot = np.eye(dim, dtype=np.float32)[:40]
    signs = np.array([[1], [-1], [1], [-1]], dtype=np.float32)
    constant = np.full((4, dim), 1 / np.sqrt(dim), dtype=np.float32) * signs
    spiky = random_set(60, dim, 3) * 0.05
    spiky[:, 0] = 1.0
    tiny = random_set(20, dim, 4)
    tiny[:, 1:] *= 1e-6  # almost one-hot: most components round to 0
    halfway = np.zeros((20, dim), dtype=np.float32)
    halfway[:, :] = 0.5 / 127  # every component exactly between two codes
    halfway[:, 0] = 1.0
    rows = np.concatenate([one_hot, constant, spiky, tiny, halfway, random_set(500, dim, 5)])
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    codes, steps, slack = int8codes.encode(rows)
    for query in np.concatenate([rows[::7], random_set(30, dim, 6)]):
        approx, err = int8codes.bounds(query, codes, steps, slack)
        true = rows.astype(np.float64) @ query.astype(np.float64)
        assert np.all(np.abs(true - approx) <= err)


def test_zero_vector_rows_and_queries_are_handled(rows_on_disk):
    data = random_set(TWO_PASS_MIN_ROWS + 100, 384, 8)
    data[7] = 0.0
    fast = build(data, two_pass=True, rows_on_disk=rows_on_disk)
    reference = build(data, two_pass=False)
    query = data[3]
    assert_same(fast.nearest(query, 10), reference.nearest(query, 10))
    zero = np.zeros(384, dtype=np.float32)
    assert [r for r, _ in fast.nearest(zero, 5)] == [r for r, _ in reference.nearest(zero, 5)]


def test_adds_and_removes_keep_codes_and_rows_aligned(rows_on_disk):
    data = random_set(TWO_PASS_MIN_ROWS * 2, 384, 12)
    fast = build(data, two_pass=True, rows_on_disk=rows_on_disk)
    reference = build(data, two_pass=False)
    rng = np.random.default_rng(13)
    gone = [int(r) for r in rng.choice(np.arange(1, data.shape[0] + 1), 3000, replace=False)]
    fast.remove(gone)
    reference.remove(gone)
    extra = random_set(500, 384, 14)
    for i, row in enumerate(extra):
        fast.add(100_000 + i, row, 0.0)
        reference.add(100_000 + i, row, 0.0)
    for query in np.concatenate([random_set(10, 384, 15), extra[:5], data[:5]]):
        got = fast.nearest(query, 10)
        assert_same(got, reference.nearest(query, 10))
        assert not set(gone) & {r for r, _ in got}
    assert len(fast) == len(reference) == data.shape[0] - 3000 + 500


def test_equal_similarities_rank_by_rowid_in_both_paths(rows_on_disk):
    data = random_set(TWO_PASS_MIN_ROWS + 100, 384, 16)
    data[100:130] = data[5]  # thirty copies of one vector: a 31-way tie at the top
    fast = build(data, two_pass=True, rows_on_disk=rows_on_disk)
    reference = build(data, two_pass=False)
    want = [6, *range(101, 110)]
    assert [r for r, _ in fast.nearest(data[5], 10)] == want
    assert [r for r, _ in reference.nearest(data[5], 10)] == want


def test_searches_stay_consistent_while_rows_are_added_and_removed(rows_on_disk):
    """Readers search from worker threads while the writer changes the index."""
    base = random_set(TWO_PASS_MIN_ROWS * 2, 384, 17)
    extra = random_set(2000, 384, 18)
    fast = build(base, two_pass=True, rows_on_disk=rows_on_disk)
    queries = random_set(40, 384, 19)
    problems: list[str] = []
    done = threading.Event()

    def writer() -> None:
        for i, row in enumerate(extra):
            fast.add(50_000 + i, row, 0.0)
            if i % 3 == 0:
                fast.remove([1 + (i * 7) % base.shape[0]])
        done.set()

    def reader() -> None:
        while not done.is_set():
            for query in queries:
                got = fast.nearest(query, 10)
                ids = [r for r, _ in got]
                if len(ids) != 10 or len(set(ids)) != 10:
                    problems.append(f"bad answer {got}")
                if [d for _, d in got] != sorted(d for _, d in got):
                    problems.append(f"not sorted {got}")

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    writer()
    for t in threads:
        t.join()
    assert problems == []
    # Afterwards the index answers exactly like one built from the final rows.
    removed = {1 + (i * 7) % base.shape[0] for i in range(0, extra.shape[0], 3)}
    reference = VectorIndex(384, two_pass=False)
    for i, row in enumerate(base):
        if i + 1 not in removed:
            reference.add(i + 1, row, 0.0)
    for i, row in enumerate(extra):
        reference.add(50_000 + i, row, 0.0)
    assert len(fast) == len(reference)
    for query in queries:
        assert_same(fast.nearest(query, 10), reference.nearest(query, 10))


@pytest.mark.slow
def test_recall_is_one_on_real_model_vectors(monkeypatch):
    """The real model's vectors of workload sentences, queried with questions and other texts."""
    from memhub.embedding import create_embedder
    from memhub.storage import mirror as vectors

    from .vector_sets import text_set

    # 2,000 short texts keep the model's time down; let the two-pass path run on them.
    monkeypatch.setattr(vectors, "TWO_PASS_MIN_ROWS", 256)
    _, texts = text_set(2000, seed=3)
    sentences = [t.split(". ")[0] for t in texts]
    model = create_embedder("model", "all-MiniLM-L6-v2", 2)
    data = np.concatenate(
        [model.encode(sentences[i : i + 256]) for i in range(0, len(sentences), 256)]
    )
    questions = [
        "which replica lags behind the primary",
        "who is on vacation and who holds the pager",
        "why did the canary rollout stop",
        "what broke after the vite upgrade",
        "how long do we keep backups",
        "which ruff rule is disabled and why",
        "what did the sprint retro conclude",
        "when is the offsite and where",
    ]
    queries = model.encode(questions + texts[:12])
    fast, reference = build(data, two_pass=True), build(data, two_pass=False)
    everything = np.arange(data.shape[0])
    for query in queries:
        got = fast.nearest(query, 10)
        assert_same(got, reference.nearest(query, 10))
        assert {r for r, _ in got} == set(exact_top(data, query, 10, everything))


def test_rows_on_disk_hold_no_float32_rows_in_ram_and_leave_no_file(tmp_path):
    data = random_set(TWO_PASS_MIN_ROWS * 2, 384, 21)
    on_disk = build(data, two_pass=True, rows_on_disk=tmp_path)
    in_ram = build(data, two_pass=True)
    assert in_ram.nbytes() - on_disk.nbytes() >= data.nbytes  # the float32 rows left RAM
    assert list(tmp_path.iterdir()) == []  # the scratch file was unlinked at once
    small = random_set(50, 384, 22)  # fewer rows than k: every row is read back
    few = build(small, two_pass=True, rows_on_disk=tmp_path)
    reference = build(small, two_pass=False)
    assert_same(few.nearest(small[3], 60), reference.nearest(small[3], 60))
    on_disk.close()
    few.close()
