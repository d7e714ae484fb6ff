from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memhub.domain.sessions import chunk_lines, session_chunks, session_id_of
from memhub.domain.tags import normalize_tags


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("s1", "s1"), ("  team,alpha ", "team-alpha"), ("A,B,C", "A-B-C"), ("x" * 92, "x" * 92)],
)
def test_session_id_of(raw, expected):
    assert session_id_of(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"), [("", "session_id is empty"), (" ", "empty"), ("x" * 93, "at most 92")]
)
def test_session_id_of_refuses(raw, message):
    with pytest.raises(ValueError, match=message):
        session_id_of(raw)


def test_a_short_session_is_one_chunk_without_chunk_tags():
    [chunk] = session_chunks(
        [("user", "hi"), ("assistant", "hello")],
        "S1",
        tags=["extra"],
        metadata={"k": 1, "session_id": "ignored"},
        chunk_size=1500,
    )
    assert chunk.content == "[user] hi\n[assistant] hello"
    assert chunk.tags == ["session:s1", "extra"]
    assert chunk.metadata == {"k": 1, "session_id": "S1", "turns": 2}


def test_a_long_session_is_split_on_turn_boundaries():
    turns = [("user", "a" * 10), ("assistant", "b" * 10), ("user", "c" * 10)]
    chunks = session_chunks(turns, "s", tags=[], metadata={}, chunk_size=30)
    assert [c.content for c in chunks] == [
        "[user] aaaaaaaaaa",
        "[assistant] bbbbbbbbbb",
        "[user] cccccccccc",
    ]
    assert [c.tags for c in chunks] == [
        ["session:s", "chunk:1/3"],
        ["session:s", "chunk:2/3"],
        ["session:s", "chunk:3/3"],
    ]
    assert [c.metadata["chunk_index"] for c in chunks] == [0, 1, 2]
    assert {c.metadata["total_chunks"] for c in chunks} == {3}


lines = st.lists(st.text(alphabet="ab \n", max_size=40), max_size=30)


@given(lines=lines, size=st.integers(min_value=-1, max_value=120))
def test_chunking_keeps_every_line_in_order_within_the_size(lines, size):
    chunks = chunk_lines(lines, size)
    assert [line for chunk in chunks for line in chunk] == lines
    if size <= 0:
        assert len(chunks) == 1
        return
    assert all(chunks[1:])  # only the first chunk can be empty (no lines at all)
    for chunk in chunks:
        if len(chunk) > 1:  # a single over-long line is a chunk of its own
            assert sum(len(line) + 1 for line in chunk) <= size


turns = st.lists(
    st.tuples(st.sampled_from(["user", "assistant"]), st.text(min_size=1, max_size=60)),
    min_size=1,
    max_size=20,
)


@given(
    turns=turns,
    raw_id=st.text(alphabet="abAB,- 01", min_size=1, max_size=30).filter(str.strip),
    size=st.integers(min_value=0, max_value=200),
)
def test_every_chunk_names_its_session_in_tag_and_metadata_alike(turns, raw_id, size):
    session_id = session_id_of(raw_id)
    chunks = session_chunks(turns, session_id, tags=["x"], metadata={}, chunk_size=size)
    joined = "\n".join(c.content for c in chunks)
    assert joined == "\n".join(f"[{role}] {content}" for role, content in turns)
    for index, chunk in enumerate(chunks):
        assert chunk.tags[0] == f"session:{chunk.metadata['session_id']}".lower()
        assert normalize_tags(chunk.tags) == chunk.tags
        assert chunk.metadata["turns"] == len(turns)
        if len(chunks) > 1:
            assert chunk.metadata["chunk_index"] == index
            assert f"chunk:{index + 1}/{len(chunks)}" in chunk.tags
