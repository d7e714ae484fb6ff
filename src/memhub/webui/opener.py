"""``memhub ui``: a one-time link for the browser, and the wait until the page has used it.

The daemon is reached (and started, if none runs) as a bridge reaches it, and asked for a
ticket; the link goes to the browser through a private redirect file
(:mod:`memhub.webui.launch`), never on a command line. The file stays until the page has traded
the ticket for its session, which shows as a new browser client of the daemon, or until the
ticket expires; then it is removed.
"""

from __future__ import annotations

import time
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING, Final

import attrs
import trio

from memhub.discovery import read_runtime_file
from memhub.errors import InternalError
from memhub.mcp_bridge.connection import DaemonLink, LinkSettings
from memhub.protocol import messages as m
from memhub.webui import launch

if TYPE_CHECKING:
    from collections.abc import Callable

#: How often the daemon is asked whether the page has connected yet.
REDEEMED_POLL_S: Final = 0.25
#: Slack for comparing the daemon's clock of a connection with ours (one machine, one clock).
CLOCK_SLACK_S: Final = 1.0


@attrs.frozen
class OneTimeLink:
    url: str
    expires_in_s: float


async def one_time_link(link: DaemonLink) -> OneTimeLink:
    """A fresh ticket, as the link to the web UI (the ticket rides in the fragment).

    Raises:
        ServiceError: no daemon could be reached or started, or it refused the ticket.
    """
    delivery = await link.call(m.IssueTicket(id=0))
    if delivery.error is not None:
        raise delivery.error
    info = read_runtime_file(link.paths.runtime)
    if not isinstance(delivery.reply, m.Ticket) or info is None:
        raise InternalError("the daemon did not hand out a ticket; is it older than this memhub?")
    # In the fragment, browsers never send the ticket to the server or into logs.
    host = f"[{info.host}]" if ":" in info.host else info.host
    url = f"http://{host}:{info.port}/#ticket={delivery.reply.ticket}"
    return OneTimeLink(url, delivery.reply.expires_in_s)


async def print_link(db: str | None) -> str:
    """The link itself, for ``memhub ui --print-url`` (the person asked to see it)."""
    async with trio.open_nursery() as nursery:
        link = DaemonLink(LinkSettings.from_env(db, client_name="memhub-ui"), nursery)
        try:
            return (await one_time_link(link)).url
        finally:
            link.close()


async def open_in_browser(db: str | None, say: Callable[[str], None]) -> bool:
    """Open the web UI in the browser; True once the page has redeemed its ticket.

    Raises:
        ServiceError: no daemon could be reached or started, or it refused the ticket.
        LaunchError: there is no private directory for the redirect file.
    """
    async with trio.open_nursery() as nursery:
        link = DaemonLink(LinkSettings.from_env(db, client_name="memhub-ui"), nursery)
        try:
            return await _open(link, say)
        finally:
            link.close()


async def _open(link: DaemonLink, say: Callable[[str], None]) -> bool:
    asked_at = time.time()
    one_time = await one_time_link(link)
    directory = launch.launch_dir()
    launch.sweep(directory, older_than_s=one_time.expires_in_s)
    page = launch.write_redirect(one_time.url, directory)
    ttl = one_time.expires_in_s
    try:
        say(f"opening the web UI in your browser (the link works once, within {ttl:g} s)")
        async with trio.open_nursery() as nursery:
            # Some browser commands return only when the browser quits: wait beside them.
            nursery.start_soon(_start_browser, page, say)
            redeemed = False
            with trio.move_on_after(ttl):
                await _redeemed(link, since=asked_at - CLOCK_SLACK_S)
                redeemed = True
            nursery.cancel_scope.cancel()
        if not redeemed:
            say(f"the link was not used within {ttl:g} s; run `memhub ui` again")
        return redeemed
    finally:
        page.unlink(missing_ok=True)


async def _start_browser(page: Path, say: Callable[[str], None]) -> None:
    # The browser gets the file's path: no secret on its command line.
    opened = await trio.to_thread.run_sync(webbrowser.open, page.as_uri(), abandon_on_cancel=True)
    if not opened:
        say(f"no browser could be started: open {page.as_uri()} in yours")


async def _redeemed(link: DaemonLink, since: float) -> None:
    """Return once a browser has connected since ``since`` (a page trading its ticket)."""
    while True:
        listed = await link.call(m.ListClients(id=0))
        if isinstance(listed.reply, m.Clients) and any(
            client.kind == "browser" and client.connected_at >= since
            for client in listed.reply.clients
        ):
            return
        await trio.sleep(REDEEMED_POLL_S)  # the daemon tells no one when a ticket is redeemed
