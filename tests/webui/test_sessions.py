"""What a stolen browser session can still do, against a real daemon (hardening item 5).

A browser session is a client with a session token from a redeemed ticket, here driven without
a browser (the page's own flow is tests/webui/test_browser.py): it cannot stop the daemon, and
it deletes in bulk only to confirm a dry run of its own, removing nothing it was not shown.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from memhub.discovery import daemon_url
from memhub.errors import BadRequest, NotFound, Unauthorized
from memhub.protocol import messages as m
from memhub.transport.client import DaemonClient, open_daemon_client

from .helpers import Daemon


def unique(word: str) -> str:
    return f"{word}-{uuid.uuid4().hex[:8]}"


@asynccontextmanager
async def browser_session(daemon: Daemon) -> AsyncIterator[DaemonClient]:
    """A client holding a browser session, as a page that redeemed a ticket does."""
    url = daemon_url("127.0.0.1", daemon.port)
    with trio.fail_after(30):
        async with open_daemon_client(url, daemon.token, client_name="launcher") as admin:
            ticket = await admin.call(m.IssueTicket(id=0))
        assert isinstance(ticket, m.Ticket)
        async with open_daemon_client(url, ticket.ticket, client_name="web-ui") as tab:
            assert tab.welcome.session_token is not None
            yield tab


async def store(client: DaemonClient, content: str, tags: list[str]) -> str:
    reply = await client.call(m.Store(id=0, content=content, tags=tags))
    assert isinstance(reply, m.Stored)
    return reply.content_hash


async def exists(client: DaemonClient, content_hash: str) -> bool:
    try:
        await client.call(m.Get(id=0, content_hash=content_hash))
    except NotFound:
        return False
    return True


def test_a_browser_session_cannot_stop_the_daemon(daemon: Daemon) -> None:
    async def scenario() -> None:
        async with browser_session(daemon) as tab:
            with pytest.raises(Unauthorized, match="memhub stop"):
                await tab.call(m.Shutdown(id=0))
            # ...and it is still there, for this session too.
            assert isinstance(await tab.call(m.Health(id=0)), m.HealthReport)

    trio.run(scenario)
    assert isinstance(daemon.call(m.Health(id=0)), m.HealthReport)


def test_a_browser_session_cannot_run_a_consolidation(daemon: Daemon, tmp_path: Path) -> None:
    """A run writes archive files where its request says: a page must not choose that."""
    target = tmp_path / "chosen-by-a-page"
    settings = m.ConsolidationSettings(archive_path=str(target))

    async def scenario() -> None:
        async with browser_session(daemon) as tab:
            with pytest.raises(Unauthorized, match="cannot run a consolidation"):
                await tab.call(m.ConsolidateRun(id=0, horizon="monthly", settings=settings))

    trio.run(scenario)
    assert not target.exists()


def test_a_bulk_delete_needs_a_dry_run_of_the_same_session_first(daemon: Daemon) -> None:
    tag = unique("bulk")

    async def scenario() -> None:
        async with browser_session(daemon) as tab:
            doomed = [await store(tab, f"bulk {tag} {i}", [tag]) for i in range(3)]
            delete = m.Delete(id=0, tags=[tag])
            with pytest.raises(BadRequest, match="only to confirm a preview"):
                await tab.call(delete)
            assert all([await exists(tab, h) for h in doomed])
            shown = await tab.call(m.Delete(id=0, tags=[tag], dry_run=True))
            assert isinstance(shown, m.Deleted)
            assert sorted(shown.content_hashes) == sorted(doomed)
            async with browser_session(daemon) as other_tab:
                with pytest.raises(BadRequest, match="only to confirm a preview"):
                    await other_tab.call(delete)  # another session's preview confirms nothing
            done = await tab.call(delete)
            assert isinstance(done, m.Deleted)
            assert sorted(done.content_hashes) == sorted(doomed)
            with pytest.raises(BadRequest, match="only to confirm a preview"):
                await tab.call(delete)  # a preview confirms once

    trio.run(scenario)


def test_a_confirmation_removes_nothing_the_preview_did_not_show(daemon: Daemon) -> None:
    tag = unique("grown")

    async def scenario() -> None:
        async with browser_session(daemon) as tab:
            first = await store(tab, f"grown {tag} first", [tag])
            assert isinstance(await tab.call(m.Delete(id=0, tags=[tag], dry_run=True)), m.Deleted)
            later = await store(tab, f"grown {tag} stored after the preview", [tag])
            with pytest.raises(BadRequest, match="1 more memories match") as refused:
                await tab.call(m.Delete(id=0, tags=[tag]))
            assert refused.value.detail == {"confirm": "preview_changed", "unseen": [later]}
            assert await exists(tab, first)
            assert await exists(tab, later)
            shown = await tab.call(m.Delete(id=0, tags=[tag], dry_run=True))
            assert isinstance(shown, m.Deleted)
            assert sorted(shown.content_hashes) == sorted([first, later])
            assert isinstance(await tab.call(m.Delete(id=0, tags=[tag])), m.Deleted)
            assert not await exists(tab, later)

    trio.run(scenario)


def test_a_cleanup_needs_a_dry_run_first_and_a_single_delete_does_not(daemon: Daemon) -> None:
    async def scenario() -> None:
        async with browser_session(daemon) as tab:
            with pytest.raises(BadRequest, match="only to confirm a preview"):
                await tab.call(m.CleanupDuplicates(id=0))
            shown = await tab.call(m.CleanupDuplicates(id=0, dry_run=True))
            assert isinstance(shown, m.CleanedUp)
            assert isinstance(await tab.call(m.CleanupDuplicates(id=0)), m.CleanedUp)
            one = await store(tab, f"single {unique('one')}", [])
            deleted = await tab.call(m.Delete(id=0, content_hash=one))  # the page asks itself
            assert isinstance(deleted, m.Deleted)
            assert deleted.content_hashes == [one]

    trio.run(scenario)


def test_a_token_holder_still_deletes_in_bulk_in_one_request(daemon: Daemon) -> None:
    tag = unique("bridge")
    hashes = [daemon.call(m.Store(id=0, content=f"bridge {tag} {i}", tags=[tag])) for i in range(2)]
    assert all(isinstance(h, m.Stored) for h in hashes)
    done = daemon.call(m.Delete(id=0, tags=[tag]))  # as memory_delete through a bridge does
    assert isinstance(done, m.Deleted)
    assert len(done.content_hashes) == 2
