"""An acknowledged update is what the next search sees, on both engines.

The vector mirror and its tag index follow the change feed a few milliseconds behind the writer.
A new row is past the mirror's position, so every snapshot scores it itself; an update keeps its
row, and a search that took the row's tags from the tag index used to miss a tag added just
before: about one search in four, when each update was followed at once by a search for its new
tag. The snapshot now also scores the rows changed after the feed cursor the mirror follows.
"""

from __future__ import annotations

import pytest

from memhub.protocol import messages as m

from .conftest import InProcess

ROWS = 200
UPDATES = 80


async def _stored(svc: InProcess) -> list[str]:
    hashes = []
    for i in range(ROWS):
        content = f"note {i}: apples, pears and the orchard's yield in year {1900 + i}"
        stored = await svc.call(m.Store(id=0, content=content, tags=["orchard"]))
        assert isinstance(stored, m.Stored)
        hashes.append(stored.content_hash)
    return hashes


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
async def test_a_tag_added_by_an_update_is_found_by_the_next_search(
    engine_daemon: InProcess, mode: str
) -> None:
    hashes = await _stored(engine_daemon)
    missed = []
    for i, content_hash in enumerate(hashes[:UPDATES]):
        tag = f"picked-{i}"
        updated = await engine_daemon.call(
            m.Update(id=0, content_hash=content_hash, tags=["orchard", tag])
        )
        assert isinstance(updated, m.Updated)
        # No word of the query is in the memories: hybrid's keyword half cannot find the row,
        # only the vector half can, as in a semantic search (the tag leaves one candidate).
        search = m.Search(id=0, query="zebra crossing", mode=mode, tags=[tag], limit=3)  # type: ignore[arg-type]
        found = await engine_daemon.call(search)
        assert isinstance(found, m.SearchResult)
        if [hit.memory.content_hash for hit in found.hits] != [content_hash]:
            missed.append(i)
    assert missed == []


async def test_a_tag_removed_by_an_update_is_not_found(engine_daemon: InProcess) -> None:
    hashes = await _stored(engine_daemon)
    for content_hash in hashes[:UPDATES]:
        await engine_daemon.call(m.Update(id=0, content_hash=content_hash, tags=["harvested"]))
        found = await engine_daemon.call(
            m.Search(id=0, query="apples in the orchard", tags=["orchard"], limit=ROWS)
        )
        assert isinstance(found, m.SearchResult)
        assert content_hash not in {hit.memory.content_hash for hit in found.hits}


async def test_a_listing_by_a_rare_tag_sees_every_acknowledged_write(
    engine_daemon: InProcess,
) -> None:
    """Without a query a rare tag reads only the rows the facet index names, plus the rows it
    may not reflect yet: a new row and an updated one are both found at once."""
    hashes = await _stored(engine_daemon)
    for i in range(UPDATES):
        fresh = await engine_daemon.call(
            m.Store(id=0, content=f"a fresh note {i} on quinces", tags=[f"new-{i}"])
        )
        assert isinstance(fresh, m.Stored)
        await engine_daemon.call(
            m.Update(id=0, content_hash=hashes[i], tags=["orchard", f"new-{i}"])
        )
        found = await engine_daemon.call(m.Search(id=0, tags=[f"new-{i}"], limit=5))
        assert isinstance(found, m.SearchResult)
        got = {hit.memory.content_hash for hit in found.hits}
        assert got == {fresh.content_hash, hashes[i]}, i
    nothing = await engine_daemon.call(m.Search(id=0, tags=["no-such-tag"], limit=5))
    assert isinstance(nothing, m.SearchResult)
    assert nothing.hits == []


async def test_a_listing_by_tag_is_the_same_newest_first_page(engine_daemon: InProcess) -> None:
    """The facet path orders as the scan does: newest first, then the latest row first."""
    await _stored(engine_daemon)
    found = await engine_daemon.call(m.Search(id=0, tags=["orchard"], limit=100))
    page = await engine_daemon.call(m.ListMemories(id=0, tags=["orchard"], page_size=100))
    assert isinstance(found, m.SearchResult)
    assert isinstance(page, m.Page)
    assert [h.memory.content_hash for h in found.hits] == [r.content_hash for r in page.memories]
    assert len(found.hits) == 100


async def test_a_listing_of_a_rare_tag_counts_every_acknowledged_write(
    engine_daemon: InProcess,
) -> None:
    """memory_list's page and total for a rare tag come from the facet index's few rows plus
    what it may not reflect yet: a new and an updated memory count at once, as a scan would."""
    hashes = await _stored(engine_daemon)
    for i in range(UPDATES // 4):
        fresh = await engine_daemon.call(
            m.Store(id=0, content=f"a listed note {i} on medlars", tags=[f"listed-{i}"])
        )
        assert isinstance(fresh, m.Stored)
        await engine_daemon.call(
            m.Update(id=0, content_hash=hashes[i], tags=["orchard", f"listed-{i}"])
        )
        page = await engine_daemon.call(m.ListMemories(id=0, tags=[f"listed-{i}"]))
        assert isinstance(page, m.Page)
        assert page.total == 2, i
        assert {r.content_hash for r in page.memories} == {fresh.content_hash, hashes[i]}, i
    common = await engine_daemon.call(m.ListMemories(id=0, tags=["orchard"], page_size=5))
    assert isinstance(common, m.Page)
    assert common.total == ROWS
