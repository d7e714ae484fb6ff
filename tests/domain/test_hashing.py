from __future__ import annotations

import hashlib

import pytest

from memhub.domain.hashing import content_hash


@pytest.mark.parametrize(
    ("content", "normalized"),
    [
        pytest.param("  Hello World ", "hello world", id="strip-and-lower"),
        pytest.param("Hello World\n\t", "hello world", id="trailing-newline"),
        pytest.param("Straße", "straße", id="non-ascii-utf8"),
        pytest.param("a  B", "a  b", id="inner-space-kept"),
    ],
)
def test_content_hash_known_vectors(content, normalized):
    assert content_hash(content) == hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def test_content_hash_literal_vector():
    # Independent of hashlib: sha256("hello world") from the published test vector.
    assert content_hash("  Hello World ") == (
        "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
    )


def test_content_hash_distinguishes_content():
    assert content_hash("a") != content_hash("b")
