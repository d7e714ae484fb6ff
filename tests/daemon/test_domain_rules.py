"""Domain rules as a real daemon applies them: session ids with commas, absurd time phrases."""

from __future__ import annotations

import pytest

from memhub.discovery import RuntimeInfo
from memhub.errors import BadRequest
from memhub.protocol import messages as m
from memhub.transport.client import open_daemon_client

from .helpers import running_daemon


def url(info: RuntimeInfo) -> str:
    return info.url


async def test_a_comma_in_a_session_id_gives_a_tag_and_metadata_that_agree(tmp_path):
    db = tmp_path / "sessions.db"
    with running_daemon(db) as (_, info):
        async with open_daemon_client(url(info), info.token, client_name="t") as client:
            stored = await client.call(
                m.StoreSession(
                    id=0,
                    turns=[m.Turn(role="user", content="hello"), m.Turn(role="ai", content="hi")],
                    session_id="team,alpha",
                )
            )
            assert isinstance(stored, m.SessionStored)
            assert stored.session_id == "team-alpha"
            page = await client.call(m.ListMemories(id=0, tags=["session:team-alpha"]))
            assert isinstance(page, m.Page)
            [memory] = page.memories
            assert memory.tags == ["session:team-alpha"]
            assert memory.metadata["session_id"] == "team-alpha"


async def test_a_session_id_too_long_for_its_tag_is_refused(tmp_path):
    db = tmp_path / "long.db"
    with running_daemon(db) as (_, info):
        async with open_daemon_client(url(info), info.token, client_name="t") as client:
            with pytest.raises(BadRequest, match="at most 92 fit in its 'session:' tag"):
                await client.call(
                    m.StoreSession(
                        id=0, turns=[m.Turn(role="user", content="x")], session_id="s" * 93
                    )
                )


async def test_time_phrases_give_ordered_ranges_or_a_clear_refusal(tmp_path):
    db = tmp_path / "time.db"
    with running_daemon(db) as (_, info):
        async with open_daemon_client(url(info), info.token, client_name="t") as client:
            with pytest.raises(BadRequest, match="a count has at most 4 digits"):
                await client.call(m.Search(id=0, time_expr="9999999999 days ago"))
            with pytest.raises(BadRequest, match="outside the years 1 to 9999"):
                await client.call(m.Search(id=0, time_expr="9999 years ago"))
            for phrase in ("between march and january", "between december and january"):
                result = await client.call(m.Search(id=0, time_expr=phrase, include_debug=True))
                assert isinstance(result, m.SearchResult)
                assert result.debug is not None
                start, end = result.debug["time_range"]
                assert start <= end, phrase
