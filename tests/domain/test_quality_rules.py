"""12.4's quality rules that need no store: the metadata keys 12.4's ``rate`` handler writes.

(maintain's regex entities are :mod:`memhub.graph.entities`, tested in tests/graph.)
"""

from __future__ import annotations

from typing import Any

from memhub.extras.quality import rated


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
