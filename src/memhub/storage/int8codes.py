"""Int8 codes of vectors with a provable bound on the error of their dot products.

The exact search streams a float32 matrix (1.5 KB per 384-dimension vector) through a
single-threaded matrix-vector product; at 100k vectors that is ~150 MB per query and costs
~10-15 ms on this machine. The same dot products over int8 codes read a quarter of the bytes
and run on the CPU's integer dot-product instructions (VNNI) through simsimd: ~1.3 ms at 100k.
The pass runs in blocks of :data:`BLOCK_ROWS` (each block's bounds stay in the CPU's cache), in
a thread per core when there are many (simsimd and numpy release the GIL).
The codes only *select candidates*; the final ranking is the exact float32 product, so the
result is the exact top-k, not an approximation.

Why the selection is safe. Each vector ``x`` gets a step ``s_x = max|x_i| / 127`` and codes
``c_i = round(x_i / s_x)``, so ``x_i = s_x (c_i + d_i)`` with ``|d_i| <= 1/2``. The same for the
query ``q`` (step ``s_q``, codes ``b_i``, rounding ``e_i``). Then, exactly,

    q.x = s_q s_x (sum b_i c_i + sum b_i d_i + sum e_i c_i + sum e_i d_i)

and the last three sums are at most ``|b|_1 / 2 + |c|_1 / 2 + n / 4`` in size. ``sum b_i c_i`` is
an exact integer. So every row gets an interval ``[lower, upper]`` that contains its true dot
product. If ``L`` is the k-th largest ``lower``, at least k rows have a true product of at
least ``L``, so every row of the true top-k has a product of at least ``L`` and therefore an
``upper`` of at least ``L``: the rows with ``upper >= L`` contain the exact top-k.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Final

import attrs
import numpy as np
import numpy.typing as npt
import simsimd

CodeArray = npt.NDArray[np.int8]
F64Array = npt.NDArray[np.float64]
LEVELS: Final = 127
#: Covers float32 rounding in the exact products that the caller ranks with (at most
#: ~n * 2^-24 for unit vectors, 2.3e-5 at n = 384), counted for both sides of the comparison.
ROUNDING_SLACK: Final = 1e-4


def encode(vectors: npt.NDArray[np.float32]) -> tuple[CodeArray, F64Array, F64Array]:
    """Codes, steps and ``|c|_1 / 2 + n / 4`` (the row's share of the error bound) per row."""
    wide = np.asarray(vectors, dtype=np.float64)
    if wide.ndim != 2:
        raise ValueError("encode takes a 2-D array of row vectors")
    steps = np.abs(wide).max(axis=1, initial=0.0) / LEVELS
    safe = np.where(steps > 0, steps, 1.0)
    codes = np.clip(np.rint(wide / safe[:, None]), -LEVELS, LEVELS).astype(np.int8)
    half_l1 = np.abs(codes.astype(np.int32)).sum(axis=1, dtype=np.int64) * 0.5
    return codes, steps, half_l1 + wide.shape[1] / 4.0


#: Rows per block of the first pass: a block's bounds (a few float64 arrays of this length) stay
#: in the CPU's cache, and blocks are what the pass's threads share out.
BLOCK_ROWS: Final = 32768
#: Below this many competing rows the first pass runs in the calling thread.
THREADED_MIN_ROWS: Final = 2 * BLOCK_ROWS
#: Below this share of all rows, the competing rows' codes are gathered instead of scanning all.
GATHER_MAX_SHARE: Final = 0.25

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _first_pass_pool() -> ThreadPoolExecutor:
    """One pool per process for the first pass, a thread per core (simsimd and numpy release
    the GIL, so two blocks really run at once on two cores)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            workers = max(1, min(4, os.cpu_count() or 1))
            _pool = ThreadPoolExecutor(workers, thread_name_prefix="memhub-first-pass")
        return _pool


@attrs.frozen
class _Query:
    codes: CodeArray
    step: float
    half_l1: float

    @classmethod
    def of(cls, query: npt.NDArray[np.float32]) -> _Query:
        q_codes, q_steps, q_slack = encode(query.reshape(1, -1))
        return cls(q_codes, float(q_steps[0]), float(q_slack[0]) - query.shape[0] / 4.0)


def bounds(
    query: npt.NDArray[np.float32], codes: CodeArray, steps: F64Array, row_slack: F64Array
) -> tuple[F64Array, F64Array]:
    """Per row, the estimate of ``query . x`` and a bound on its error (``|true - est| <= err``)."""
    return _bounds(_Query.of(query), codes, steps, row_slack)


def _bounds(
    q: _Query, codes: CodeArray, steps: F64Array, row_slack: F64Array
) -> tuple[F64Array, F64Array]:
    dots = np.asarray(simsimd.cdist(q.codes, codes, metric="dot"), dtype=np.float64).ravel()
    scale = steps * q.step
    err = scale * (row_slack + q.half_l1)
    err += ROUNDING_SLACK
    return dots * scale, err


def _shortlist(
    approx: F64Array, err: F64Array, k: int
) -> tuple[npt.NDArray[np.intp], F64Array, F64Array]:
    """Positions (in these arrays) that may be in *any* top-k these rows are part of, with
    their estimates and errors.

    A row of the global top-k by lower bound is in its block's top-k by lower bound, so its
    upper bound reaches the block's k-th lower bound: it is kept. Hence the union of the blocks'
    shortlists holds the global k-th lower bound and every row that reaches it.
    """
    count = approx.shape[0]
    if k >= count:
        return np.arange(count, dtype=np.intp), approx, err
    floor = np.partition(approx - err, count - k)[count - k]
    keep = np.flatnonzero(approx + err >= floor)
    return keep, approx[keep], err[keep]


def candidate_rows(
    query: npt.NDArray[np.float32],
    codes: CodeArray,
    steps: F64Array,
    row_slack: F64Array,
    k: int,
    rows: npt.NDArray[np.intp] | None = None,
) -> npt.NDArray[np.intp]:
    """Rows (indexes into ``codes``) that provably contain the ``k`` largest ``query . x``.

    Args:
        rows: if given (ascending), only these rows compete (the result is a subset of them).
    """
    q = _Query.of(query)
    total = codes.shape[0]
    if rows is not None and rows.shape[0] <= GATHER_MAX_SHARE * total:
        # Few rows compete (a filter): gather their codes and bound only those.
        approx, err = _bounds(q, codes[rows], steps[rows], row_slack[rows])
        keep, approx, err = _shortlist(approx, err, k)
        return _final_cut(rows[keep], approx, err, k)
    parts = _scan_blocks(q, codes, steps, row_slack, k, rows)
    found = np.concatenate([p[0] for p in parts])
    approx = np.concatenate([p[1] for p in parts])
    err = np.concatenate([p[2] for p in parts])
    return _final_cut(found, approx, err, k)


def _scan_blocks(
    q: _Query,
    codes: CodeArray,
    steps: F64Array,
    row_slack: F64Array,
    k: int,
    rows: npt.NDArray[np.intp] | None,
) -> list[tuple[npt.NDArray[np.intp], F64Array, F64Array]]:
    """The first pass over contiguous blocks (in threads when there are many)."""
    total = codes.shape[0]

    def block(lo: int) -> tuple[npt.NDArray[np.intp], F64Array, F64Array]:
        hi = min(total, lo + BLOCK_ROWS)
        approx, err = _bounds(q, codes[lo:hi], steps[lo:hi], row_slack[lo:hi])
        if rows is None:
            keep, approx, err = _shortlist(approx, err, k)
            return keep + lo, approx, err
        inside = rows[np.searchsorted(rows, lo) : np.searchsorted(rows, hi)] - lo
        keep, approx, err = _shortlist(approx[inside], err[inside], k)
        return inside[keep] + lo, approx, err

    starts = range(0, total, BLOCK_ROWS)
    if total < THREADED_MIN_ROWS:
        return [block(lo) for lo in starts]
    return list(_first_pass_pool().map(block, starts))


def _final_cut(
    found: npt.NDArray[np.intp], approx: F64Array, err: F64Array, k: int
) -> npt.NDArray[np.intp]:
    count = found.shape[0]
    if k >= count:
        return found
    floor = np.partition(approx - err, count - k)[count - k]  # the k-th largest lower bound
    kept: npt.NDArray[np.intp] = found[approx + err >= floor]
    return kept
