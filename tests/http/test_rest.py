"""The REST routes against a real daemon: 12.4's request and response JSON, every write
committed through the daemon (read back through the file itself)."""

from __future__ import annotations

from pathlib import Path

import pytest

from memhub.domain.hashing import content_hash
from tests.daemon.helpers import db_state
from tests.http.helpers import HttpDaemon, http_daemon, store

MEMORY_KEYS = [
    "content",
    "content_hash",
    "tags",
    "memory_type",
    "metadata",
    "created_at",
    "created_at_iso",
    "updated_at",
    "updated_at_iso",
]


@pytest.fixture
def daemon(tmp_path: Path):
    with http_daemon(tmp_path / "db.sqlite") as running:
        yield running


def test_store_answers_12_4_shape_and_is_committed(daemon: HttpDaemon, tmp_path: Path) -> None:
    with daemon.client(headers={"X-Agent-ID": "hooks"}) as c:
        body = store(
            c,
            "  The REST store path  ",
            tags=["Ops", "a, b"],
            memory_type="decision",
            metadata={"tags": ["extra"], "type": "x", "k": 1},
        )
    assert body["success"] is True
    assert body["message"] == "Memory stored successfully"
    assert body["content_hash"] == content_hash("The REST store path")
    memory = body["memory"]
    assert list(memory) == MEMORY_KEYS
    assert memory["tags"] == ["ops", "a- b", "extra", "agent:hooks"]
    assert memory["metadata"] == {"k": 1}
    assert memory["memory_type"] == "decision"
    assert memory["created_at_iso"].endswith("Z")
    # Acknowledged means committed: an independent reader of the file sees it.
    assert body["content_hash"] in db_state(tmp_path / "db.sqlite").active


def test_duplicate_and_unknown_type_answers(daemon: HttpDaemon) -> None:
    with daemon.client() as c:
        store(c, "duplicate me")
        dup = store(c, "DUPLICATE me")
        coerced = store(c, "typed oddly", memory_type="weird")
    assert dup == {
        "success": False,
        "message": "Duplicate content detected (exact match)",
        "content_hash": None,
        "memory": None,
    }
    assert coerced["memory"]["memory_type"] == "observation"
    assert coerced["message"].startswith(
        "Memory stored successfully Warning: requested memory_type 'weird' is not in the ontology"
    )


def test_list_get_update_delete(daemon: HttpDaemon) -> None:
    with daemon.client() as c:
        hashes = [store(c, f"listed memory {i}", tags=["t"])["content_hash"] for i in range(3)]
        page = c.get("/api/memories", params={"page": 1, "page_size": 2, "tag": "t"}).json()
        assert [m["content_hash"] for m in page["memories"]] == hashes[::-1][:2]
        assert (page["total"], page["page"], page["page_size"], page["has_more"]) == (3, 1, 2, True)
        last = c.get("/api/memories", params={"page": 2, "page_size": 2}).json()
        assert last["has_more"] is False

        one = c.get(f"/api/memories/{hashes[0]}")
        assert one.status_code == 200
        assert list(one.json()) == MEMORY_KEYS
        missing = c.get(f"/api/memories/{'0' * 64}")
        assert (missing.status_code, missing.json()) == (404, {"detail": "Memory not found"})

        unchanged = c.put(f"/api/memories/{hashes[0]}", json={}).json()
        assert unchanged["message"] == "No updates provided - memory unchanged"
        merged = c.put(f"/api/memories/{hashes[0]}", json={"metadata": {"a": 1}}).json()
        merged = c.put(f"/api/memories/{hashes[0]}", json={"metadata": {"b": 2}}).json()
        assert merged["memory"]["metadata"] == {"a": 1, "b": 2}
        retagged = c.put(f"/api/memories/{hashes[0]}", json={"tags": ["new"]}).json()
        assert retagged["message"].startswith("Updated fields: tags")
        assert retagged["memory"]["tags"] == ["new"]
        nowhere = c.put(f"/api/memories/{'1' * 64}", json={"tags": ["x"]})
        assert nowhere.status_code == 404
        assert nowhere.json() == {"detail": f"Memory with hash {'1' * 64} not found"}

        gone = c.delete(f"/api/memories/{hashes[1]}")
        assert gone.json() == {
            "success": True,
            "message": f"Successfully deleted memory {hashes[1]}",
            "content_hash": hashes[1],
        }
        again = c.delete(f"/api/memories/{hashes[1]}")
        assert (again.status_code, again.json()) == (404, {"detail": "Memory not found"})
        every = c.delete(f"/api/memories/{hashes[2]}", params={"store": "all"})
        assert every.status_code == 400
        assert c.get(f"/api/memories/{hashes[2]}").status_code == 200


def test_searches(daemon: HttpDaemon) -> None:
    with daemon.client() as c:
        first = store(c, "alpha release notes", tags=["proj", "key-decisions"])["content_hash"]
        store(c, "beta rollout plan", tags=["proj"])
        store(c, "gamma unrelated", tags=["other"])

        found = c.post("/api/search", json={"query": "alpha release notes", "n_results": 2})
        body = found.json()
        assert body["search_type"] == "semantic"
        assert body["total_found"] == len(body["results"]) == 2
        top = body["results"][0]
        assert top["memory"]["content_hash"] == first
        assert top["relevance_reason"] == f"Semantic similarity: {top['similarity_score']:.3f}"

        tagged = c.post("/api/search/by-tag", json={"tags": ["proj", "key-decisions"], "limit": 1})
        body = tagged.json()
        assert body["query"] == "Tags: proj, key-decisions (ANY)"
        assert body["total_found"] == 2
        assert len(body["results"]) == 1
        assert body["results"][0]["memory"]["content"] == "beta rollout plan"  # newest first
        assert body["results"][0]["relevance_reason"] == "Tags match (ANY): proj"
        empty = c.post("/api/search/by-tag", json={"tags": []})
        assert (empty.status_code, empty.json()) == (
            400,
            {"detail": "At least one tag must be specified"},
        )

        today = c.post("/api/search/by-time", json={"query": "today", "n_results": 5}).json()
        assert today["search_type"] == "time"
        assert len(today["results"]) == 3
        assert {r["relevance_reason"] for r in today["results"]} == {"Time match: today"}
        assert {r["similarity_score"] for r in today["results"]} == {None}
        # The hooks' Phase 0 query: unparsable for 12.4 and for memhub alike.
        hooks = c.post("/api/search/by-time", json={"query": "last-2-weeks", "n_results": 3})
        assert hooks.status_code == 400
        assert hooks.json()["detail"].startswith("Could not parse time query: 'last-2-weeks'.")

        similar = c.get(f"/api/search/similar/{first}", params={"n_results": 5}).json()
        assert similar["search_type"] == "similar"
        assert first not in [r["memory"]["content_hash"] for r in similar["results"]]
        assert len(similar["results"]) == 2
        assert similar["query"] == "Similar to: alpha release notes..."


def test_searches_write_nothing(daemon: HttpDaemon, tmp_path: Path) -> None:
    with daemon.client() as c:
        store(c, "read me often", metadata={"k": "v"})
        for _ in range(3):
            c.post("/api/search", json={"query": "read me often"})
        listed = c.get("/api/memories").json()["memories"][0]
    assert listed["metadata"] == {"k": "v"}  # 12.4 adds access_count, last_accessed_at, …
    assert listed["updated_at"] == listed["created_at"]


def test_tags_types_health(daemon: HttpDaemon) -> None:
    with daemon.client() as c:
        store(c, "one", tags=["b", "a"])
        store(c, "two", tags=["b"])
        assert c.get("/api/tags").json() == {
            "tags": [{"tag": "b", "count": 2}, {"tag": "a", "count": 1}]
        }
        types = c.get("/api/types").json()
        assert types == sorted(types)
        assert {"decision", "observation", "session", "note"} <= set(types)
        detailed = c.get("/api/health/detailed").json()
    assert detailed["status"] == "healthy"
    assert detailed["storage"]["backend"] == "sqlite-vec"
    assert detailed["storage"]["status"] == "connected"
    assert detailed["statistics"]["total_memories"] == 2
    assert detailed["statistics"]["unique_tags"] == 2
    with daemon.client(key=None) as anonymous:
        assert anonymous.get("/api/health").json() == {"status": "healthy"}


def test_quality_evaluation_scores_the_implicit_signals_as_12_4(
    daemon: HttpDaemon, tmp_path: Path
) -> None:
    unknown = "e" * 64
    with daemon.client() as c:
        h = store(c, "evaluate me", metadata={"source": "x"})["content_hash"]
        first = c.post(f"/api/quality/memories/{h}/evaluate", json={})
        # no body at all, and a query (unused by the implicit signals), are accepted too
        second = c.post(f"/api/quality/memories/{h}/evaluate")
        third = c.post(f"/api/quality/memories/{h}/evaluate", json={"query": "q"})
        got = c.get(f"/api/quality/memories/{h}").json()
        memory = c.get(f"/api/memories/{h}").json()
        missing = c.post(f"/api/quality/memories/{unknown}/evaluate", json={})
        bad = c.post(f"/api/quality/memories/{h}/evaluate", json={"query": 5})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body.pop("evaluation_time_ms") >= 0
    # never accessed: 0.4 * 0 + 0.3 * 0.1 (recency) + 0.3 * 0.5 (rank) = 0.18
    assert body == {
        "success": True,
        "content_hash": h,
        "quality_score": pytest.approx(0.18),
        "quality_provider": "implicit_signals",
        "ai_score": pytest.approx(0.18),
        "implicit_score": pytest.approx(0.18),
        "message": "Quality evaluated: 0.180 (was 0.500)",
    }
    assert second.json()["message"] == "Quality evaluated: 0.180 (was 0.180)"
    assert third.status_code == 200
    assert got["quality_score"] == pytest.approx(0.18)
    assert got["quality_provider"] == "implicit_signals"
    assert [s["provider"] for s in got["ai_scores"]] == ["implicit_signals"] * 3
    assert got["quality_components"] == {
        "ai_score": pytest.approx(0.18),
        "implicit_score": pytest.approx(0.18),
        "implicit_blend_enabled": False,
        "implicit_weight": 0.3,
        "boost_enabled": False,
        "boost_weight": 0.3,
    }
    assert memory["metadata"]["source"] == "x"
    assert memory["metadata"]["computed_quality"] == pytest.approx(0.18)
    assert memory["updated_at"] == memory["created_at"]  # timestamps preserved
    assert (missing.status_code, missing.json()) == (
        404,
        {"detail": f"Memory not found: {unknown}"},
    )
    assert bad.status_code == 422


def test_a_rating_outranks_an_evaluation(daemon: HttpDaemon) -> None:
    with daemon.client() as c:
        h = store(c, "rated, then evaluated")["content_hash"]
        c.post(f"/api/quality/memories/{h}/rate", json={"rating": 1})
        done = c.post(f"/api/quality/memories/{h}/evaluate").json()
        got = c.get(f"/api/quality/memories/{h}").json()
    assert done["quality_score"] == 0.9
    assert done["implicit_score"] == pytest.approx(0.18)
    assert got["quality_score"] == 0.9


def test_quality_distribution_and_trends_as_12_4(daemon: HttpDaemon) -> None:
    with daemon.client() as c:
        empty = c.get("/api/quality/distribution").json()
        hashes = [store(c, f"distribution memory {i} " + "x" * 120 * (i % 2))["content_hash"]
                  for i in range(12)]  # fmt: skip
        c.post(f"/api/quality/memories/{hashes[3]}/rate", json={"rating": -1})
        c.post(f"/api/quality/memories/{hashes[4]}/rate", json={"rating": 1})
        c.post(f"/api/quality/memories/{hashes[5]}/evaluate")
        store(c, "in another store", store="s2")
        dist = c.get("/api/quality/distribution").json()
        ranged = c.get("/api/quality/distribution", params={"min_quality": 0.6}).json()
        nan = c.get("/api/quality/distribution", params={"min_quality": "nan"})
        trends = c.get("/api/quality/trends").json()
        none = c.get("/api/quality/trends", params={"days": -1}).json()
        huge = c.get("/api/quality/trends", params={"days": 10**9})
        typed = c.get("/api/quality/trends", params={"days": "x"})
    assert empty == {
        "total_memories": 0,
        "high_quality_count": 0,
        "medium_quality_count": 0,
        "low_quality_count": 0,
        "average_score": 0.0,
        "provider_breakdown": {},
        "top_memories": [],
        "bottom_memories": [],
        "quality_range": {"min": 0.0, "max": 1.0},
    }
    assert dist["total_memories"] == 12
    assert (dist["high_quality_count"], dist["medium_quality_count"]) == (1, 9)
    assert dist["low_quality_count"] == 2
    assert dist["average_score"] == round((0.9 + 0.25 + 0.18 + 9 * 0.5) / 12, 3)
    assert dist["provider_breakdown"] == {"implicit": 11, "implicit_signals": 1}
    top = dist["top_memories"]
    assert [m["content_hash"] for m in top[:2]] == [hashes[4], hashes[11]]
    assert len(top) == 10
    assert [m["content_hash"] for m in dist["bottom_memories"][-2:]] == [hashes[3], hashes[5]]
    assert list(top[0]) == [
        "content_hash",
        "content",
        "created_at",
        "memory_type",
        "quality_score",
        "quality_provider",
        "tags",
        "access_count",
    ]
    assert top[0]["memory_type"] == "note"
    assert top[1]["content"].endswith("...")
    assert len(top[1]["content"]) == 103
    assert ranged["total_memories"] == 1
    assert ranged["quality_range"] == {"min": 0.6, "max": 1.0}
    assert nan.status_code == 422
    [today] = trends["trend_data"]
    assert trends["days_analyzed"] == 30
    assert trends["total_memories"] == 13  # every store
    assert today["memory_count"] == 13
    assert (today["max_score"], today["min_score"]) == (0.9, pytest.approx(0.18))
    assert today["average_quality_score"] == round((0.9 + 0.25 + 0.18 + 10 * 0.5) / 13, 3)
    assert list(trends) == [
        "start_date",
        "end_date",
        "days_analyzed",
        "trend_data",
        "total_memories",
    ]
    assert (none["trend_data"], none["total_memories"]) == ([], 0)
    assert huge.status_code == 400
    assert huge.json() == {"detail": f"days is out of range: {10**9}"}
    assert typed.status_code == 422


def test_quality_rate_and_get_as_12_4(daemon: HttpDaemon) -> None:
    unknown = "f" * 64
    with daemon.client() as c:
        h = store(c, "rate me over rest", metadata={"source": "x"})["content_hash"]
        empty = c.get(f"/api/quality/memories/{h}")
        assert empty.status_code == 200
        assert empty.json() == {
            "content_hash": h,
            "quality_score": 0.5,
            "quality_provider": "implicit",
            "access_count": 0,
            "last_accessed_at": None,
            "ai_scores": [],
            "user_rating": None,
            "user_feedback": None,
            "quality_components": {},
        }
        rated = c.post(f"/api/quality/memories/{h}/rate", json={"rating": 1, "feedback": "ok"})
        assert rated.status_code == 200
        assert rated.json() == {
            "success": True,
            "message": "Memory rated successfully: thumbs up",
            "content_hash": h,
            "new_quality_score": 0.9,
            "old_quality_score": 0.5,
        }
        got = c.get(f"/api/quality/memories/{h}").json()
        assert (got["quality_score"], got["user_rating"], got["user_feedback"]) == (0.9, 1, "ok")
        assert c.get(f"/api/memories/{h}").json()["metadata"]["source"] == "x"
        assert c.post(f"/api/quality/memories/{h}/rate", json={"rating": 2}).status_code == 422
        missing = c.post(f"/api/quality/memories/{unknown}/rate", json={"rating": 0})
        assert (missing.status_code, missing.json()) == (
            404,
            {"detail": f"Memory not found: {unknown}"},
        )
        assert c.get(f"/api/quality/memories/{unknown}").status_code == 404


def test_openapi_describes_what_is_served(daemon: HttpDaemon) -> None:
    with daemon.client(key=None) as c:
        doc = c.get("/openapi.json").json()
    paths = doc["paths"]
    assert set(paths) == {
        "/api/health",
        "/api/health/detailed",
        "/api/memories",
        "/api/memories/{content_hash}",
        "/api/tags",
        "/api/types",
        "/api/search",
        "/api/search/by-tag",
        "/api/search/by-time",
        "/api/search/similar/{content_hash}",
        "/api/harvest",
        "/api/quality/memories/{content_hash}/evaluate",
        "/api/quality/memories/{content_hash}/rate",
        "/api/quality/memories/{content_hash}",
        "/api/quality/distribution",
        "/api/quality/trends",
    }
    tags = {t for ops in paths.values() for op in ops.values() for t in op.get("tags", [])}
    assert "pending" not in tags
    assert paths["/api/harvest"]["post"]["tags"] == ["harvest"]
    evaluate = paths["/api/quality/memories/{content_hash}/evaluate"]["post"]
    assert evaluate["tags"] == ["quality"]
    assert set(paths["/api/memories/{content_hash}"]) == {"get", "put", "delete"}
    create = doc["components"]["schemas"]["MemoryCreateRequest"]
    assert create["required"] == ["content"]


def test_named_stores_as_12_4_partitions_them(daemon: HttpDaemon) -> None:
    with daemon.client() as c:
        mine = store(c, "kept in the second store", tags=["s2-tag"], store="s2")["content_hash"]
        store(c, "kept in the default store", tags=["d-tag"])
        again = store(c, "kept in the second store")
        assert again["success"] is False
        assert again["message"].startswith("Duplicate content detected (exact match)")
        assert "s2" in again["message"]
        in_s2 = c.get("/api/memories", params={"store": "s2"}).json()
        assert [m["content_hash"] for m in in_s2["memories"]] == [mine]
        default = c.get("/api/memories").json()["memories"]
        assert mine not in [m["content_hash"] for m in default]
        assert c.get("/api/memories", params={"store": "all"}).json()["total"] == 2
        assert c.get(f"/api/memories/{mine}").status_code == 404
        assert c.get(f"/api/memories/{mine}", params={"store": "all"}).status_code == 200
        found = c.post("/api/search", json={"query": "second store", "store": "s2"}).json()
        assert [r["memory"]["content_hash"] for r in found["results"]] == [mine]
        assert c.get("/api/tags", params={"store": "s2"}).json() == {
            "tags": [{"tag": "s2-tag", "count": 1}]
        }
        wrong = c.delete(f"/api/memories/{mine}")  # it is not in the default store
        assert wrong.status_code == 404
        assert c.delete(f"/api/memories/{mine}", params={"store": "s2"}).status_code == 200
        bad = c.get("/api/memories", params={"store": ""})
        assert bad.status_code == 400
        assert bad.json()["detail"].startswith("invalid store ''")
