"""12.4's quality rules that need no store: the rating's metadata and the regex entities.

The entity cases are the ones 12.4.0's own ``EntityExtractor`` was run on (research notes §3);
the rating keys are those 12.4's ``rate`` handler writes.
"""

from __future__ import annotations

from typing import Any

from memhub.extras.quality import rated
from memhub.extras.quality_entities import extract, tag_list


def names(content: str, tags: list[str], terms: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    return [(e.name, e.entity_type) for e in extract(content, tags, terms)]


def test_entities_as_124_extracts_them() -> None:
    tags = ["Python", "db"]
    assert names("Ping @alice and mail bob@example.com about #auth-v2 and #123.", tags) == [
        ("alice", "person"),
        ("example.com", "person"),
        ("auth-v2", "tag"),
        ("123", "tag"),
        ("Python", "tag"),
        ("db", "tag"),
    ]
    assert names(
        "See https://example.com/docs?x=1. Also (src/main.py) and /usr/local/bin, "
        "e.g. config.yaml: version 1.2 works.",
        tags,
    ) == [
        ("https://example.com/docs?x=1.", "url"),
        ("src/main.py", "file"),
        ("/usr/local/bin", "file"),
        ("config.yaml", "file"),
        ("Python", "tag"),
        ("db", "tag"),
    ]
    assert names("# Heading\nUse README.md; not v1.2.3 or 3.14 pi", tags) == [
        ("README.md", "file"),
        ("v1.2.3", "file"),
        ("Python", "tag"),
        ("db", "tag"),
    ]
    assert names("Python python PYTHON @Python", tags) == [("Python", "person"), ("db", "tag")]


def test_custom_terms_match_whole_words_only() -> None:
    assert names("the roma-connect gateway", [], ("roma-connect", "roma")) == [
        ("roma-connect", "custom")
    ]
    assert names("an aroma of Kiro", [], ("roma", "kiro")) == [("kiro", "custom")]


def test_tag_lists_from_either_place() -> None:
    assert tag_list("a, b,,c ") == ["a", "b", "c"]
    assert tag_list(["x", 1]) == ["x", "1"]
    assert tag_list(None) == []
    assert tag_list(7) == []


def test_a_rating_seeds_the_machine_score_once_and_caps_the_history() -> None:
    meta: dict[str, Any] = {"quality_score": 0.6, "other": "kept"}
    first = rated(meta, 1, "good", 100.0)
    assert first == {
        "quality_score": 0.9,
        "computed_quality": 0.6,
        "user_rating": 1,
        "user_feedback": "good",
        "user_rating_timestamp": 100.0,
        "rating_history": [
            {"rating": 1, "feedback": "good", "timestamp": 100.0, "old_score": 0.6,
             "new_score": 0.9}
        ],
    }  # fmt: skip
    meta.update(first)
    for i in range(12):
        meta.update(rated(meta, -1, f"n{i}", 101.0 + i))
    assert meta["computed_quality"] == 0.6  # the machine score survives every human rating
    assert meta["quality_score"] == 0.25
    assert [e["feedback"] for e in meta["rating_history"]] == [f"n{i}" for i in range(2, 12)]
    # a stored score that is not a number reads as 12.4's default
    assert rated({"quality_score": "high", "rating_history": "junk"}, 0, "", 1.0)[
        "rating_history"
    ] == [{"rating": 0, "feedback": "", "timestamp": 1.0, "old_score": 0.5, "new_score": 0.5}]
