"""The mirror's float32 rows in a scratch file instead of RAM, for stores too big to hold twice.

The mirror keeps two copies of each vector: int8 codes (384 bytes) that the first pass scans,
and the float32 row (1,536 bytes) that the exact re-rank reads for the few hundred candidates
the first pass keeps. At a million memories the float32 rows alone are 1.5 GB of RAM, yet each
search reads ~0.02% of them. Here they live in a file: each re-rank reads its candidates with
``pread`` (from the page cache while the machine has memory to spare, which the kernel may
reclaim; not counted in the daemon's RSS), writes are ``pwrite``.

The file is scratch, not a cache: it is created empty in the directory given (never a tmpfs,
whose pages are RAM), unlinked at once so nothing is left behind whatever kills the daemon, and
filled by the mirror's load. Mode 0600: the vectors say what the memories say.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
_ROW_DTYPE: Final = np.dtype("<f4")


class RowFile:
    """``capacity`` float32 rows of ``dimension`` values, addressed by slot."""

    def __init__(self, directory: Path, dimension: int) -> None:
        self.dimension = dimension
        self.row_bytes = dimension * _ROW_DTYPE.itemsize
        fd, name = tempfile.mkstemp(prefix=".memhub-mirror-", suffix=".f32", dir=directory)
        os.unlink(name)  # scratch: gone with the last descriptor, whatever ends the daemon
        self._fd = fd
        self.capacity = 0

    def grow(self, capacity: int) -> None:
        """Room for ``capacity`` rows (the file is sparse until rows are written)."""
        if capacity > self.capacity:
            os.ftruncate(self._fd, capacity * self.row_bytes)
            self.capacity = capacity

    def write(self, slot: int, rows: FloatArray) -> None:
        """Rows ``slot``, ``slot + 1``, … := ``rows``."""
        data = np.ascontiguousarray(rows, dtype=_ROW_DTYPE).tobytes()
        offset = slot * self.row_bytes
        while data:
            written = os.pwrite(self._fd, data, offset)
            data, offset = data[written:], offset + written

    def move(self, dst: int, src: int) -> None:
        """Row ``dst`` := row ``src``."""
        self.write(dst, self.take(np.asarray([src], dtype=np.intp)))

    def take(self, slots: npt.NDArray[np.intp]) -> FloatArray:
        """The rows at ``slots`` (in that order), one read per run of consecutive slots."""
        out = np.empty((slots.shape[0], self.dimension), dtype=_ROW_DTYPE)
        if slots.shape[0] == 0:
            return out
        order = np.argsort(slots, kind="stable")
        ordered = slots[order]
        buffer = np.empty_like(out)
        # Runs of consecutive slots: where the next slot is not this one plus one.
        breaks = np.flatnonzero(np.diff(ordered) != 1) + 1
        starts = np.concatenate(([0], breaks))
        ends = np.concatenate((breaks, [ordered.shape[0]]))
        view = buffer.data.cast("B")
        for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
            want = (hi - lo) * self.row_bytes
            got = os.preadv(
                self._fd,
                [view[lo * self.row_bytes : hi * self.row_bytes]],
                int(ordered[lo]) * self.row_bytes,
            )
            if got != want:
                raise OSError(f"the mirror's row file returned {got} of {want} bytes")
        out[order] = buffer
        return out

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
