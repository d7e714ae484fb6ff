"""The service's rules, in process: what every request must satisfy, what each write records."""

from __future__ import annotations

import pytest
import trio

from memhub.errors import BadRequest, Duplicate
from memhub.protocol import messages as m

from .conftest import InProcess


async def test_a_comma_in_a_session_id_gives_a_tag_and_metadata_that_agree(daemon: InProcess):
    stored = await daemon.call(
        m.StoreSession(
            id=0,
            turns=[m.Turn(role="user", content="hello"), m.Turn(role="ai", content="hi")],
            session_id="team,alpha",
        )
    )
    assert isinstance(stored, m.SessionStored)
    assert stored.session_id == "team-alpha"
    page = await daemon.call(m.ListMemories(id=0, tags=["session:team-alpha"]))
    assert isinstance(page, m.Page)
    [memory] = page.memories
    assert memory.tags == ["session:team-alpha"]
    assert memory.metadata["session_id"] == "team-alpha"


async def test_a_session_id_too_long_for_its_tag_is_refused(daemon: InProcess):
    with pytest.raises(BadRequest, match="at most 92 fit in its 'session:' tag"):
        await daemon.call(
            m.StoreSession(id=0, turns=[m.Turn(role="user", content="x")], session_id="s" * 93)
        )


async def test_time_phrases_give_ordered_ranges_or_a_clear_refusal(daemon: InProcess):
    with pytest.raises(BadRequest, match="a count has at most 4 digits"):
        await daemon.call(m.Search(id=0, time_expr="9999999999 days ago"))
    with pytest.raises(BadRequest, match="outside the years 1 to 9999"):
        await daemon.call(m.Search(id=0, time_expr="9999 years ago"))
    for phrase in ("between march and january", "between december and january"):
        result = await daemon.call(m.Search(id=0, time_expr=phrase, include_debug=True))
        assert isinstance(result, m.SearchResult)
        assert result.debug is not None
        start, end = result.debug["time_range"]
        assert start <= end, phrase


@pytest.mark.parametrize(
    "request_",
    [
        m.Delete(id=0, tags=["\x00"]),
        m.Search(id=0, query="\x00", mode="exact"),
        m.Search(id=0, query="x", tags=["ok", "bad\x00tag"]),
        m.ListMemories(id=0, agent_id="a\x00"),
        m.ListMemories(id=0, memory_type="note\x00"),
    ],
)
async def test_a_nul_in_any_pattern_is_refused_and_nothing_matches_or_changes(
    daemon: InProcess, request_: m.Request
):
    for i in range(3):
        await daemon.call(m.Store(id=0, content=f"kept number {i}", tags=["ok"]))
    with pytest.raises(BadRequest, match="NUL"):
        await daemon.call(request_)
    page = await daemon.call(m.ListMemories(id=0))
    assert isinstance(page, m.Page)
    assert page.total == 3


@pytest.mark.parametrize(
    ("store", "problem"),
    [
        ("all", "only valid for read scopes"),
        ("", "cannot be empty"),
        ("a\nb", "control"),
        ("x" * 65, "at most 64"),
    ],
)
async def test_a_write_to_a_store_no_read_could_name_is_refused(daemon: InProcess, store, problem):
    with pytest.raises(BadRequest, match=problem):
        await daemon.call(m.Store(id=0, content="anything", store=store))
    page = await daemon.call(m.ListMemories(id=0, store="all"))
    assert isinstance(page, m.Page)
    assert page.total == 0


async def test_every_change_reaches_subscribers_once_named_by_client_and_machine(
    daemon: InProcess,
):
    with daemon.service.subscribe() as events:
        stored = await daemon.call(m.Store(id=0, content="watched"), client="claude-code")
        assert isinstance(stored, m.Stored)
        await daemon.call(
            m.Update(id=0, content_hash=stored.content_hash, tags=["x"]), client="cursor"
        )
        await daemon.call(m.Delete(id=0, content_hash=stored.content_hash), client="web-ui")
        await daemon.call(m.Store(id=0, content="another"), client="a")
        with pytest.raises(Duplicate):
            await daemon.call(m.Store(id=0, content="Another"), client="a")  # no event
        seen: list[m.Event] = []
        with trio.fail_after(10):
            while len(seen) < 4:
                seen.append(await events.receive())
    assert [(e.kind, e.client, e.origin) for e in seen] == [
        ("stored", "claude-code", "test-box"),
        ("updated", "cursor", "test-box"),
        ("deleted", "web-ui", "test-box"),
        ("stored", "a", "test-box"),
    ]
    assert events.statistics().current_buffer_used == 0  # nothing twice


async def test_counts_follow_updates_and_deletes_without_a_recount(daemon: InProcess):
    for i in range(5):
        await daemon.call(m.Store(id=0, content=f"counted {i}", tags=["t"]))
    counts = await daemon.call(m.CountTags(id=0))
    assert isinstance(counts, m.TagCounts)
    assert counts.tags == [m.TagCount(tag="t", count=5)]
    page = await daemon.call(m.ListMemories(id=0))
    assert isinstance(page, m.Page)
    first, second = page.memories[0].content_hash, page.memories[1].content_hash
    await daemon.call(m.Update(id=0, content_hash=first, tags=["u"]))
    await daemon.call(m.Delete(id=0, content_hash=second))
    counts = await daemon.call(m.CountTags(id=0))
    assert isinstance(counts, m.TagCounts)
    assert counts.tags == [m.TagCount(tag="t", count=3), m.TagCount(tag="u", count=1)]
    assert daemon.service.follower.counts.recounts == 1  # the first request only
