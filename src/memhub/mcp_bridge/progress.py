"""Progress of a long tool call, reported to the MCP client that asked for it.

A client that wants progress sends a ``progressToken`` with its ``tools/call``; the SDK's
request context then turns each report into a ``notifications/progress`` (and does nothing
for a client that sent no token). The surface binds the context's reporter around each call
(:func:`reporting`), so a tool deep down (``memory_ingest``) reports without the context being
passed through every layer. Reports are throttled, and a client that is gone or refuses them
never fails the call: progress is advice, the tool's result is what counts.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Final

log = logging.getLogger(__name__)

Reporter = Callable[[float, float | None, str | None], Awaitable[None]]
_reporter: ContextVar[Reporter | None] = ContextVar("memhub_progress", default=None)
#: At most one report per this many seconds (the last one always goes out).
INTERVAL_S: Final = 0.5


@contextlib.contextmanager
def reporting(reporter: Reporter) -> Iterator[None]:
    """Send the progress reports of the calls made inside to ``reporter``."""
    token = _reporter.set(reporter)
    try:
        yield
    finally:
        _reporter.reset(token)


class Progress:
    """One call's progress: ``await step(done, total, message)`` as work gets done."""

    def __init__(self, interval_s: float = INTERVAL_S) -> None:
        self._reporter = _reporter.get()
        self._interval_s = interval_s
        self._last = -1e9

    async def step(
        self, done: float, total: float | None, message: str, *, last: bool = False
    ) -> None:
        if self._reporter is None:
            return
        now = time.monotonic()
        if not last and now - self._last < self._interval_s:
            return
        self._last = now
        try:
            await self._reporter(done, total, message)
        except Exception as exc:  # the client went away, or its transport refused it
            log.debug("progress report not sent: %r", exc)
            self._reporter = None
