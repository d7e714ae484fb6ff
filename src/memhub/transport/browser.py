"""What a browser session may do: less than a client holding the daemon's token.

A session token lives in a browser tab; whoever gets hold of one (another page's script, a
copied tab, a process reading the browser's memory) is a client of the daemon until the
session ends (:class:`~memhub.credentials.Session`: idle and absolute lifetimes). What such a
client cannot do:

* stop the daemon: ``shutdown`` is refused (``unauthorized``); ``memhub stop`` is the way;
* run a consolidation: ``consolidate_run`` names the directory the daemon writes archive files
  to, which a page must not choose (the web UI never sends it; an MCP client does);
* mint tickets for others (the service refuses ``issue_ticket`` to browser sessions);
* delete in bulk with one request. A delete by tags or time, or a duplicate cleanup, is carried
  out for a browser session only as the confirmation of a dry run of the very same request
  made by the same session within :data:`CONFIRM_TTL_S`, and only if it removes nothing that
  dry run did not list: the matching memories are taken again just before, and if any is new
  the request is refused (the page must preview again). The web UI always shows the dry run's
  list and asks before it sends the real request, so it needs nothing more; the preview is
  bound to the session (another session's dry run confirms nothing) and used once.

Not prevented: a holder of a session token can send the dry run and then the real request
itself. What it cannot do is remove more than it was shown, or do it in a single request.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Final

import attrs

from memhub.credentials import Session
from memhub.errors import BadRequest, Unauthorized
from memhub.protocol import messages as m
from memhub.protocol.codec import encode

#: How long a dry run shown to a browser session can confirm the real request.
CONFIRM_TTL_S: Final = 120.0
#: Dry runs remembered per session (the oldest is forgotten first).
MAX_PREVIEWS: Final = 16

Handler = Callable[[m.Request], Awaitable[m.Reply]]
BulkRequest = m.Delete | m.CleanupDuplicates


@attrs.frozen
class _Preview:
    shown: frozenset[str]
    until: float


class BrowserPolicy:
    """The rules above, for every browser session of one daemon."""

    def __init__(self) -> None:
        # Per session, and forgotten with it: a session that ended takes its previews along.
        self._previews: weakref.WeakKeyDictionary[Session, dict[str, _Preview]] = (
            weakref.WeakKeyDictionary()
        )

    async def handle(self, session: Session, request: m.Request, handle: Handler) -> m.Reply:
        """Answer ``request`` for ``session`` through ``handle`` (the backend), or refuse it.

        Raises:
            Unauthorized: a request no browser session may make.
            BadRequest: a bulk delete that no dry run of this session confirms.
        """
        if isinstance(request, m.Shutdown):
            raise Unauthorized(
                "a browser session cannot stop the daemon; run `memhub stop` in a terminal"
            )
        if isinstance(request, m.ConsolidateRun):
            raise Unauthorized(
                "a browser session cannot run a consolidation (it writes archive files to the "
                "directory the request names); ask for it through an MCP client"
            )
        if not _is_bulk(request):
            return await handle(request)
        assert isinstance(request, m.Delete | m.CleanupDuplicates)
        key = _key(request)
        if request.dry_run:
            reply = await handle(request)
            if isinstance(reply, m.Deleted | m.CleanedUp):
                self._remember(session, key, frozenset(reply.content_hashes))
            return reply
        preview = self._previews.get(session, {}).pop(key, None)
        if preview is None or preview.until < time.monotonic():
            raise BadRequest(
                "a browser session deletes in bulk only to confirm a preview: send the same "
                f"request with dry_run true first, then again within {CONFIRM_TTL_S:g} s",
                detail={"confirm": "dry_run_first"},
            )
        now = await handle(attrs.evolve(request, dry_run=True))
        if isinstance(now, m.Deleted | m.CleanedUp):
            unseen = set(now.content_hashes) - preview.shown
            if unseen:
                raise BadRequest(
                    f"{len(unseen)} more memories match than the preview listed; nothing was "
                    "deleted: preview again",
                    detail={"confirm": "preview_changed", "unseen": sorted(unseen)},
                )
        return await handle(request)

    def _remember(self, session: Session, key: str, shown: frozenset[str]) -> None:
        previews = self._previews.setdefault(session, {})
        previews.pop(key, None)  # the newest dry run of a request is the one that counts
        while len(previews) >= MAX_PREVIEWS:
            previews.pop(next(iter(previews)))
        previews[key] = _Preview(shown, time.monotonic() + CONFIRM_TTL_S)


def _is_bulk(request: m.Request) -> bool:
    if isinstance(request, m.CleanupDuplicates):
        return True
    return isinstance(request, m.Delete) and request.content_hash is None


def _key(request: BulkRequest) -> str:
    """The request as a dry run and its confirmation both send it (ids differ)."""
    return encode(attrs.evolve(request, id=0, dry_run=False))
