"""The embedding actor: one model for the whole machine, fed micro-batches from every caller.

Embedding is the daemon's bottleneck by two orders of magnitude (about 13 ms per text alone,
about 7 ms per text in batches of 8 to 32), so every store and query goes through one
:class:`EmbeddingActor`. The actor batches whatever is already queued but never waits for more:
a lone request is encoded at once, and batches form by themselves while the model is busy.

Importing this module must stay cheap: torch is imported only by :func:`load_model_embedder`.
"""

from __future__ import annotations

import collections
import contextlib
import logging
from typing import TYPE_CHECKING, Final

import attrs
import numpy as np
import outcome
import trio

from memhub.embedding.base import Embedder, Vectors
from memhub.errors import ShuttingDown, Unavailable
from memhub.protocol.messages import EmbedderStats

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

logger = logging.getLogger(__name__)

_INBOX_SIZE: Final = 1024  # requests, not texts; a full inbox blocks callers (backpressure)


@attrs.define(eq=False)
class _Request:
    texts: list[str]
    reply: trio.MemorySendChannel[outcome.Outcome[Vectors]]
    done: int = 0  # texts already encoded; a long request is encoded over several batches
    parts: list[Vectors] = attrs.field(factory=list)

    def abandoned(self) -> bool:
        return self.reply.statistics().open_receive_channels == 0


def _answer(request: _Request, result: outcome.Outcome[Vectors]) -> None:
    # send_nowait into a size-1 channel never blocks; a caller that has gone is not our problem.
    with request.reply, contextlib.suppress(trio.BrokenResourceError):
        request.reply.send_nowait(result)


class EmbeddingActor:
    """Owns the embedder and its worker thread; batches the texts of all concurrent callers.

    Each batch holds at most ``max_batch`` texts and is encoded in one worker-thread call under
    the actor's own ``CapacityLimiter(1)``. A request larger than ``max_batch`` is encoded over
    several batches, sharing them with requests queued behind it. Requests whose caller has gone
    are skipped, so timed-out queries cost no model time.

    Closing: cancel the nursery running :meth:`run`, or call :meth:`aclose`. The batch already
    in the model finishes (a thread cannot be interrupted) and its callers get their vectors;
    every other waiting caller gets :class:`~memhub.errors.ShuttingDown`, and so does any later
    call.
    """

    def __init__(self, factory: Callable[[], Embedder], *, max_batch: int, cache_size: int) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self._factory = factory
        self._max_batch = max_batch
        self._cache_size = max(0, cache_size)
        self._cache: collections.OrderedDict[str, Vectors] = collections.OrderedDict()
        self._send, self._recv = trio.open_memory_channel[_Request](_INBOX_SIZE)
        self._limiter = trio.CapacityLimiter(1)
        self._embedder: Embedder | None = None
        self._pending: collections.deque[_Request] = collections.deque()
        self._queued_texts = 0  # not yet encoded, over self._pending
        self._loaded = trio.Event()  # also set when the actor stops, to release waiters
        self._finished = trio.Event()
        self._running = self._closing = self._stopped = False
        self._batches = self._texts = self._max_seen = self._hits = self._misses = 0

    @property
    def embedder(self) -> Embedder:
        """The loaded embedder (name, kind, dimension); available once :meth:`run` has started."""
        if self._embedder is None:
            raise RuntimeError("the embedding actor has not loaded its embedder yet")
        return self._embedder

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Load the embedder in a thread, report started, then serve until closed or cancelled."""
        if self._running or self._stopped:
            raise RuntimeError("an EmbeddingActor runs once")
        self._running = True
        try:
            # Not abandoned on cancel, although the load takes seconds: a thread still inside
            # torch when the interpreter exits can abort the whole process (SIGABRT).
            self._embedder = await trio.to_thread.run_sync(self._factory, limiter=self._limiter)
            self._loaded.set()
            task_status.started()
            while True:
                if not self._pending:
                    try:
                        self._enqueue(await self._recv.receive())
                    except trio.EndOfChannel:
                        return
                self._drain_nowait()
                if self._closing:  # aclose(): the batch in the model is done, fail the rest
                    return
                batch = self._take_batch()
                if batch:
                    await self._encode(batch)
        finally:
            self._stop()

    async def embed(self, texts: Sequence[str], *, use_cache: bool = False) -> Vectors:
        """Embed ``texts``; returns float32 ``(len(texts), dimension)`` unit rows, in order.

        Args:
            texts: the texts; a bare ``str`` is refused rather than embedded letter by letter.
            use_cache: look up and remember results in the LRU cache. Queries set it (they
                repeat); stores do not, so one bulk import cannot evict every hot query.

        Raises:
            Unavailable: the embedder failed on the batch holding these texts.
            ShuttingDown: the actor is closing or has stopped.
        """
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not a str")
        wanted = list(texts)
        if not wanted:
            await self._loaded.wait()
            if self._embedder is None:
                raise ShuttingDown("the embedding service stopped before loading its model")
            return np.empty((0, self._embedder.dimension), dtype=np.float32)
        if not use_cache or self._cache_size == 0:
            return await self._ask(wanted)
        found: dict[str, Vectors] = {}
        for text in dict.fromkeys(wanted):
            if (cached := self._cache_get(text)) is not None:
                found[text] = cached
        missing = [text for text in dict.fromkeys(wanted) if text not in found]
        misses = sum(1 for text in wanted if text not in found)
        self._hits += len(wanted) - misses
        self._misses += misses
        if missing:
            for text, vec in zip(missing, await self._ask(missing), strict=True):
                found[text] = self._cache_put(text, vec)
        return np.stack([found[text] for text in wanted]).astype(np.float32, copy=False)

    def statistics(self) -> EmbedderStats:
        """Counters for ``memhub status``; name is "" and dimension 0 until the model is loaded."""
        inbox = self._recv.statistics()
        return EmbedderStats(
            name=self._embedder.name if self._embedder else "",
            dimension=self._embedder.dimension if self._embedder else 0,
            queue_depth=inbox.current_buffer_used + inbox.tasks_waiting_send + len(self._pending),
            batches=self._batches,
            texts=self._texts,
            max_batch_size=self._max_seen,
            mean_batch_size=self._texts / self._batches if self._batches else 0.0,
            cache_hits=self._hits,
            cache_misses=self._misses,
        )

    async def aclose(self) -> None:
        """Stop taking requests, finish the batch in the model, fail the rest, wait for the stop."""
        self._closing = True
        self._send.close()  # wakes a run() idle in receive(); later embed() calls fail at once
        if self._running:
            await self._finished.wait()
        else:
            self._stop()

    # ---- inside the actor task ----

    async def _ask(self, texts: list[str]) -> Vectors:
        reply_send, reply_recv = trio.open_memory_channel[outcome.Outcome[Vectors]](1)
        with reply_recv:  # leaving (even by cancellation) tells the actor to skip our texts
            try:
                await self._send.send(_Request(texts, reply_send))
                result = await reply_recv.receive()
            except (trio.ClosedResourceError, trio.BrokenResourceError, trio.EndOfChannel):
                raise ShuttingDown("the embedding service is shutting down") from None
        return result.unwrap()

    def _enqueue(self, request: _Request) -> None:
        self._pending.append(request)
        self._queued_texts += len(request.texts)

    def _drain_nowait(self) -> None:
        # No waiting here: batches form from what queued up while the model was busy.
        while self._queued_texts < self._max_batch:
            try:
                self._enqueue(self._recv.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                return

    def _take_batch(self) -> list[tuple[_Request, int, int]]:
        """Slices (request, start, end) of the oldest pending texts, at most max_batch of them."""
        for request in [r for r in self._pending if r.abandoned()]:
            self._pending.remove(request)
            self._queued_texts -= len(request.texts) - request.done
            request.reply.close()
        batch: list[tuple[_Request, int, int]] = []
        room = self._max_batch
        for request in self._pending:
            if room == 0:
                break
            end = min(len(request.texts), request.done + room)
            batch.append((request, request.done, end))
            room -= end - request.done
        return batch

    async def _encode(self, batch: list[tuple[_Request, int, int]]) -> None:
        texts = [text for request, start, end in batch for text in request.texts[start:end]]
        try:
            vectors = await trio.to_thread.run_sync(self._encode_sync, texts, limiter=self._limiter)
        except Exception as exc:
            # The model failing on some input fails these callers, not the daemon.
            logger.warning("embedding a batch of %d texts failed", len(texts), exc_info=True)
            for request, _, _ in batch:
                self._pending.remove(request)
                self._queued_texts -= len(request.texts) - request.done
                _answer(request, outcome.Error(Unavailable(f"embedding failed: {exc}")))
            return
        self._batches += 1
        self._texts += len(texts)
        self._max_seen = max(self._max_seen, len(texts))
        self._queued_texts -= len(texts)
        offset = 0
        for request, start, end in batch:
            request.parts.append(vectors[offset : offset + end - start])
            offset += end - start
            request.done = end
            if end == len(request.texts):  # only the last slice can be partial, so FIFO holds
                self._pending.popleft()
                parts = request.parts
                _answer(
                    request, outcome.Value(parts[0] if len(parts) == 1 else np.concatenate(parts))
                )

    def _encode_sync(self, texts: list[str]) -> Vectors:
        embedder = self.embedder
        # Copied here, in the worker, so whatever backs the embedder's array (a torch tensor)
        # is released now and never by some other thread during interpreter exit.
        vectors = np.array(embedder.encode(texts), dtype=np.float32, copy=True)
        if vectors.shape != (len(texts), embedder.dimension):
            raise ValueError(f"embedder returned shape {vectors.shape} for {len(texts)} texts")
        if not np.isfinite(vectors).all():
            raise ValueError("embedder returned NaN or infinite values")
        return vectors

    def _stop(self) -> None:
        """Fail every waiting caller with ShuttingDown. Synchronous: nothing can sneak in."""
        self._stopped = True
        self._send.close()
        waiting = list(self._pending)
        self._pending.clear()
        with contextlib.suppress(trio.ClosedResourceError):
            # Drain before closing: closing the last receiver would silently drop the buffer,
            # leaving those callers waiting for a reply forever.
            while True:
                try:
                    waiting.append(self._recv.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
        self._recv.close()
        for request in waiting:
            _answer(request, outcome.Error(ShuttingDown("the embedding service is shutting down")))
        self._loaded.set()
        self._finished.set()

    # ---- cache (trio thread only, so no locking) ----

    def _cache_get(self, text: str) -> Vectors | None:
        vec = self._cache.get(text)
        if vec is not None:
            self._cache.move_to_end(text)
        return vec

    def _cache_put(self, text: str, vec: Vectors) -> Vectors:
        row = vec.copy()  # a view would pin the whole batch array; read-only guards the cache
        row.flags.writeable = False
        self._cache[text] = row
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return row
