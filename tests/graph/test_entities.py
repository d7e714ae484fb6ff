"""Entity extraction and entity ids, against what 12.4's own code answers on the same texts."""

from __future__ import annotations

import json

import pytest

from memhub.graph import entities as ent

TAGS = ["Python", "db"]


def names(
    content: str, tags: list[str] = TAGS, terms: tuple[str, ...] = ()
) -> list[tuple[str, str, str]]:
    return [(e.name, e.entity_type, e.source) for e in ent.extract(content, tags, terms)]


# Each expectation is what 12.4's EntityExtractor().extract_entities(text, {"tags": TAGS})
# returned (run in its virtualenv).
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Ping @alice and mail bob@example.com about #auth-v2 and #123.",
            [("alice", "person", "content"), ("example.com", "person", "content"),
             ("auth-v2", "tag", "content"), ("123", "tag", "content")],
        ),
        (
            "See https://example.com/docs?x=1. Also (src/main.py) and /usr/local/bin, e.g. "
            "config.yaml: version 1.2 works.",
            [("https://example.com/docs?x=1.", "url", "content"),
             ("src/main.py", "file", "content"), ("/usr/local/bin", "file", "content"),
             ("config.yaml", "file", "content")],
        ),
        (
            "# Heading\nUse README.md; not v1.2.3 or 3.14 pi",
            [("README.md", "file", "content"), ("v1.2.3", "file", "content")],
        ),
        (
            "deploy to k8s via ./scripts/run.sh:ok and ~/notes.txt #Ops #ops @bob. (/etc/hosts)",
            [("bob.", "person", "content"), ("Ops", "tag", "content"),
             ("./scripts/run.sh", "file", "content"), ("/etc/hosts", "file", "content")],
        ),
    ],
)  # fmt: skip
def test_extraction_finds_what_124_finds(text: str, expected: list[tuple[str, str, str]]) -> None:
    assert names(text) == [*expected, ("Python", "tag", "metadata"), ("db", "tag", "metadata")]


def test_the_first_occurrence_of_a_name_wins_whatever_its_case() -> None:
    # 12.4: [('Python', 'person', 'content'), ('db', 'tag', 'metadata')]
    assert names("Python python PYTHON @Python") == [
        ("Python", "person", "content"),
        ("db", "tag", "metadata"),
    ]


def test_custom_terms_match_whole_words_case_insensitively() -> None:
    found = names("Roma and AROMA and Kafka-ish and kafka.", [], ("roma", "Kafka", "absent"))
    assert found == [("roma", "custom", "config"), ("Kafka", "custom", "config")]
    assert names("aroma", [], ("roma",)) == []
    assert ent.custom_terms(" roma, ,Kafka ,") == ["roma", "Kafka"]


def test_tags_merge_metadata_tags_first_and_split_strings() -> None:
    assert ent.merged_tags(["b", "a"], {"tags": "a, c"}) == ["a", "c", "b"]
    assert ent.merged_tags([], {}) == []
    assert ent.tag_list("x,,y ") == ["x", "y"]


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Authentication Design", "authentication-design"),
        ("Café", "cafe"),
        ("日本語", "e-c12140a0"),
        ("C++", "c"),
        ("  ", "e-099600a1"),
        ("", "e-da39a3ee"),
        ("Straße", "stra-e"),
        ("ﬁle", "file"),
    ],
)
def test_entity_ids_are_124s_slugs(name: str, slug: str) -> None:
    assert ent.entity_id(name) == slug


def test_links_are_124s_has_entity_rows() -> None:
    [link] = ent.links("h" * 64, ent.extract("see @ann"), now=12.5)
    assert (link.source, link.target, link.relationship_type) == ("h" * 64, "ann", "has_entity")
    assert (link.similarity, link.created_at) == (1.0, 12.5)
    assert json.dumps(link.connection_types) == '["entity"]'
    assert json.dumps(link.metadata) == '{"entity_type": "person"}'
