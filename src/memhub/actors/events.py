"""Fan-out of committed changes to subscribers (web UIs, other tools).

Publishing never blocks the writer: each subscriber has a bounded queue, and a subscriber that
falls that far behind is cut off (its sending end closed) rather than slowing every write. At
shutdown :meth:`EventHub.close` closes the receiving ends instead, so that the transport can
tell the client "the daemon is stopping" rather than "you were too slow".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

import trio

from memhub.protocol import messages as m

log = logging.getLogger(__name__)
SUBSCRIBER_QUEUE: Final = 1024


class EventHub:
    """Publish ``Event``s to every current subscriber."""

    def __init__(self, queue_size: int = SUBSCRIBER_QUEUE) -> None:
        self._queue_size = queue_size
        self._subscribers: set[trio.MemorySendChannel[m.Event]] = set()
        self._listeners: list[Callable[[list[m.Event]], None]] = []
        self._receivers: set[trio.MemoryReceiveChannel[m.Event]] = set()
        self._closed = False

    def __len__(self) -> int:
        return len(self._subscribers)

    @contextmanager
    def subscribe(self) -> Iterator[trio.MemoryReceiveChannel[m.Event]]:
        send, recv = trio.open_memory_channel[m.Event](self._queue_size)
        if self._closed:
            recv.close()  # reading it says "the daemon is stopping" at once
        self._subscribers.add(send)
        self._receivers.add(recv)
        try:
            with recv:
                yield recv
        finally:
            self._subscribers.discard(send)
            self._receivers.discard(recv)
            send.close()

    def add_listener(self, listener: Callable[[list[m.Event]], None]) -> None:
        """Call ``listener`` with every published batch, synchronously (it must not block)."""
        self._listeners.append(listener)

    def close(self) -> None:
        """The daemon is stopping: end every subscription as "shutting down", not "too slow".

        Closing the *receiving* ends is what tells the two apart (see ``Backend.subscribe``):
        a lagging subscriber has its sending end closed instead.
        """
        self._closed = True
        for recv in list(self._receivers):
            recv.close()
        self._subscribers.clear()

    def publish(self, events: list[m.Event]) -> None:
        for listener in self._listeners:
            try:
                listener(events)
            except Exception:
                log.exception("event listener failed")
        for send in list(self._subscribers):
            try:
                for event in events:
                    send.send_nowait(event)
            except trio.WouldBlock:
                log.warning("dropping a subscriber that fell %d events behind", self._queue_size)
                self._subscribers.discard(send)
                send.close()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._subscribers.discard(send)
