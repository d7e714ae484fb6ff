"""Int8 codes of vectors with a provable bound on the error of their dot products.

The exact search streams a float32 matrix (1.5 KB per 384-dimension vector) through a
single-threaded matrix-vector product; at 100k vectors that is ~150 MB per query and costs
~10-15 ms on this machine. The same dot products over int8 codes read a quarter of the bytes
and run on the CPU's integer dot-product instructions (VNNI) through simsimd: ~1.3 ms at 100k.
The pass runs in blocks of :data:`BLOCK_ROWS` (each block's bounds stay in the CPU's cache), each
split across the cores for large sets (simsimd's threads), and keeps a running floor
so that after the first block only the few rows that can still matter are looked at again.
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
from typing import Final

import attrs
import numpy as np
import numpy.typing as npt
import simsimd

CodeArray = npt.NDArray[np.int8]
F32Array = npt.NDArray[np.float32]
F64Array = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]
LEVELS: Final = 127
#: Covers float32 rounding in the exact products that the caller ranks with (at most
#: ~n * 2^-24 for unit vectors, 2.3e-5 at n = 384), counted for both sides of the comparison,
#: and the float32 rounding of the bounds themselves (relative 2^-24 of values below 2).
ROUNDING_SLACK: Final = 1e-4
#: Rows per block of the first pass: a block's bounds (a few float32 arrays of this length) stay
#: in the CPU's cache.
BLOCK_ROWS: Final = 32768
#: Below this many rows the first pass runs on one core; above, simsimd splits each block
#: across the cores.
THREADED_MIN_ROWS: Final = 2 * BLOCK_ROWS
#: Below this share of all rows, the competing rows' codes are gathered instead of scanning all.
GATHER_MAX_SHARE: Final = 0.25


def encode(vectors: npt.NDArray[np.float32]) -> tuple[CodeArray, F32Array, F32Array]:
    """Per row: the codes, the step ``s_x``, and ``s_x (|c|_1 / 2 + n / 4)`` (the row's share
    of the error bound, already scaled by its step)."""
    wide = np.asarray(vectors, dtype=np.float64)
    if wide.ndim != 2:
        raise ValueError("encode takes a 2-D array of row vectors")
    # The step is rounded to float32 *before* coding, so the codes are exact for the step kept.
    steps = (np.abs(wide).max(axis=1, initial=0.0) / LEVELS).astype(np.float32)
    safe = np.where(steps > 0, steps, 1.0).astype(np.float64)
    codes = np.clip(np.rint(wide / safe[:, None]), -LEVELS, LEVELS).astype(np.int8)
    half_l1 = np.abs(codes.astype(np.int32)).sum(axis=1, dtype=np.int64) * 0.5
    scaled_slack = steps.astype(np.float64) * (half_l1 + wide.shape[1] / 4.0)
    # Rounded up, so the bound never shrinks by the conversion.
    return codes, steps, np.nextafter(scaled_slack.astype(np.float32), np.float32(np.inf))


@attrs.frozen
class _Query:
    codes: CodeArray
    step: float
    half_l1: float

    @classmethod
    def of(cls, query: npt.NDArray[np.float32]) -> _Query:
        wide = np.asarray(query, dtype=np.float64).reshape(1, -1)
        step = float(np.float32(np.abs(wide).max(initial=0.0) / LEVELS))
        codes = np.clip(np.rint(wide / (step or 1.0)), -LEVELS, LEVELS).astype(np.int8)
        half_l1 = float(np.abs(codes.astype(np.int32)).sum()) * 0.5
        return cls(codes, step, half_l1)

    @property
    def slack(self) -> float:
        """The rounding slack in the units of ``dots * s_x`` (true products divided by s_q)."""
        return ROUNDING_SLACK / self.step if self.step > 0 else ROUNDING_SLACK


def bounds(
    query: npt.NDArray[np.float32], codes: CodeArray, steps: F32Array, scaled_slack: F32Array
) -> tuple[F64Array, F64Array]:
    """Per row, the estimate of ``query . x`` and a bound on its error (``|true - est| <= err``)."""
    q = _Query.of(query)
    dots = np.asarray(simsimd.cdist(q.codes, codes, metric="dot"), dtype=np.float64).ravel()
    wide_steps = steps.astype(np.float64)
    err = q.step * (scaled_slack.astype(np.float64) + wide_steps * q.half_l1) + ROUNDING_SLACK
    return dots * wide_steps * q.step, err


def candidate_rows(
    query: npt.NDArray[np.float32],
    codes: CodeArray,
    steps: F32Array,
    scaled_slack: F32Array,
    k: int,
    rows: IndexArray | None = None,
) -> IndexArray:
    """Rows (indexes into ``codes``) that provably contain the ``k`` largest ``query . x``.

    Args:
        rows: if given (ascending), only these rows compete (the result is a subset of them).
    """
    q = _Query.of(query)
    total = codes.shape[0]
    if rows is not None and rows.shape[0] <= GATHER_MAX_SHARE * total:
        # Few rows compete (a filter): gather their codes and bound only those.
        scan = _Scan(q, codes[rows], steps[rows], scaled_slack[rows], k, None)
        scan.over(0, rows.shape[0])
        found, lower, upper = scan.result()  # positions in the gathered codes
        return rows[found[_final_cut(found, lower, upper, k)]]
    threads = _threads() if total >= THREADED_MIN_ROWS else 1
    scan = _Scan(q, codes, steps, scaled_slack, k, rows, threads=threads)
    scan.over(0, total)
    found, lower, upper = scan.result()
    return found[_final_cut(found, lower, upper, k)]


class _Scan:
    """The first pass over some blocks, keeping every row whose upper bound reaches the k-th
    largest lower bound seen so far.

    Why nothing of the top-k is lost: the running floor only rises, and it never passes the
    k-th largest lower bound of *all* rows (it is that of a subset), which every row of the
    exact top-k reaches with its upper bound. So those rows are kept, and so is every row whose
    lower bound is among the k largest overall (lower <= upper).
    """

    def __init__(
        self,
        q: _Query,
        codes: CodeArray,
        steps: F32Array,
        scaled_slack: F32Array,
        k: int,
        rows: IndexArray | None,
        *,
        threads: int = 1,
    ) -> None:
        self._q, self._codes, self._steps, self._slack = q, codes, steps, scaled_slack
        self._k, self._rows, self._threads = k, rows, threads
        self._floor = -np.inf
        self._best = np.zeros(0, dtype=np.float32)  # the k largest lower bounds so far
        self._kept: list[tuple[IndexArray, F32Array, F32Array]] = []

    def over(self, start: int, stop: int) -> None:
        for lo in range(start, stop, BLOCK_ROWS):
            self._block(lo, min(stop, lo + BLOCK_ROWS))

    def _block(self, lo: int, hi: int) -> None:
        q = self._q
        dots = np.asarray(
            simsimd.cdist(
                q.codes,
                self._codes[lo:hi],
                metric="dot",
                out_dtype="float32",
                threads=self._threads,
            )
        ).ravel()  # exact: |dot| <= 127 * 127 * n < 2^24
        steps = self._steps[lo:hi]
        est = dots * steps
        err = steps * np.float32(q.half_l1)
        err += self._slack[lo:hi]
        err += np.float32(q.slack)
        if self._rows is not None:
            rows = self._rows
            inside = rows[np.searchsorted(rows, lo) : np.searchsorted(rows, hi)] - lo
            est, err = est[inside], err[inside]
        else:
            inside = None
        upper = est + err
        reach = np.flatnonzero(upper >= self._floor)
        if reach.shape[0] == 0:
            return
        lower = est[reach] - err[reach]
        pool = np.concatenate([self._best, lower])
        k = self._k
        if pool.shape[0] >= k:
            self._best = np.partition(pool, pool.shape[0] - k)[pool.shape[0] - k :]
            self._floor = float(self._best.min())
            keep = upper[reach] >= self._floor
            reach, lower = reach[keep], lower[keep]
        else:
            self._best = pool
        positions = reach if inside is None else inside[reach]
        self._kept.append((positions + lo, lower, upper[reach]))

    def result(self) -> tuple[IndexArray, F32Array, F32Array]:
        if not self._kept:
            empty = np.zeros(0, dtype=np.float32)
            return np.zeros(0, dtype=np.intp), empty, empty
        found = np.concatenate([part[0] for part in self._kept]).astype(np.intp, copy=False)
        lower = np.concatenate([part[1] for part in self._kept])
        upper = np.concatenate([part[2] for part in self._kept])
        keep = upper >= self._floor
        return found[keep], lower[keep], upper[keep]


def _final_cut(found: IndexArray, lower: F32Array, upper: F32Array, k: int) -> IndexArray:
    """Positions in ``found`` whose upper bound reaches the k-th largest lower bound."""
    count = found.shape[0]
    if k >= count:
        return np.arange(count, dtype=np.intp)
    floor = np.partition(lower, count - k)[count - k]
    kept: IndexArray = np.flatnonzero(upper >= floor)
    return kept


def _threads() -> int:
    """simsimd's own threads for a block: it holds the GIL for a call, so Python threads
    would not run two blocks at once; its threads split one block across the cores."""
    return max(1, min(4, os.cpu_count() or 1))
