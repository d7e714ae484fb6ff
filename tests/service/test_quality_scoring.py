"""12.4's implicit-signals score and the trend days, as pure functions
(:mod:`memhub.extras.quality`)."""

from __future__ import annotations

import math
from datetime import datetime

import pytest

from memhub.extras.quality import evaluated, implicit_score, trend_days
from memhub.storage.quality import BUCKET_S, ScoreBucket

NOW = 1_800_000_000.0


def test_implicit_score_follows_12_4() -> None:
    assert implicit_score({}, NOW) == pytest.approx(0.18)  # never accessed
    used = {"access_count": 99, "last_accessed_at": NOW, "avg_ranking": 0.0}
    assert implicit_score(used, NOW) == pytest.approx(1.0)
    week = {"access_count": 9, "last_accessed_at": NOW - 7 * 86400, "avg_ranking": 0.5}
    expected = 0.4 * math.log(10) / math.log(100) + 0.3 * math.exp(-0.7) + 0.3 * 0.5
    assert implicit_score(week, NOW) == pytest.approx(expected)
    # values 12.4 would fail on count as their defaults
    odd = {"access_count": "many", "last_accessed_at": "yesterday", "avg_ranking": None}
    assert implicit_score(odd, NOW) == pytest.approx(0.18)


def test_evaluation_keeps_a_human_rating_and_ten_scores() -> None:
    history = [{"score": 0.1, "timestamp": 1.0, "provider": "onnx_local"}] * 10
    done = evaluated({"user_rating": -1, "ai_scores": history}, NOW)
    assert done["quality_score"] == 0.25
    assert done["computed_quality"] == pytest.approx(0.18)
    assert len(done["ai_scores"]) == 10
    assert done["ai_scores"][-1] == {
        "score": pytest.approx(0.18),
        "timestamp": NOW,
        "provider": "implicit_signals",
    }
    assert evaluated({"user_rating": [1]}, NOW)["quality_score"] == pytest.approx(0.18)


def test_trend_buckets_merge_into_local_days() -> None:
    noon = datetime(2026, 5, 4, 12, 0).timestamp()
    start = noon - noon % BUCKET_S
    buckets = [
        ScoreBucket(start=start, count=2, score_sum=1.0, best=0.5, worst=0.5),
        ScoreBucket(start=start + BUCKET_S, count=1, score_sum=0.9, best=0.9, worst=0.9),
        ScoreBucket(start=start + 86400, count=1, score_sum=0.18, best=0.18, worst=0.18),
    ]
    assert trend_days(buckets) == [
        {
            "date": "2026-05-04",
            "average_quality_score": round(1.9 / 3, 3),
            "memory_count": 3,
            "max_score": 0.9,
            "min_score": 0.5,
        },
        {
            "date": "2026-05-05",
            "average_quality_score": 0.18,
            "memory_count": 1,
            "max_score": 0.18,
            "min_score": 0.18,
        },
    ]
    assert trend_days([]) == []
