"""``memhub migrate``: SQLite → team store → SQLite gives back the file's memories exactly.

"Exactly" is every column of every row of ``memories`` (tombstones included, the metadata text
byte for byte, REAL epochs, ISO strings, 12.x's columns) and every vector's bytes, compared by
content hash. Also: a second run copies nothing, a partial run resumes, another model is refused
before anything is written, a SQLite file served by a daemon is refused, and a team store's
running daemons see the migrated rows in their mirrors and live feeds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trio

from memhub.domain.hashing import content_hash
from memhub.embedding import HashEmbedder
from memhub.protocol import messages as m
from memhub.storage.mirror import rows_digest
from memhub.storage.sqlite import schema as schema_mod
from memhub.stress.machines import team_machines
from memhub.transport.client import open_daemon_client
from tests.daemon.helpers import daemon_env, running_daemon
from tests.pgserver import PgServer
from tests.storage.builders import build_mms_v10_db, open_rw

from .harness import fresh_store, wait_for

REAL_MODEL = "sentence-transformers:all-MiniLM-L6-v2"

ROWS: list[dict[str, Any]] = [
    {
        "content": "plain active memory",
        "tags": "ops,deploy",
        "memory_type": "note",
        "metadata": '{"b": 1,  "a": [1, 2]}',
        "created_at": 1_700_000_000.125,
        "updated_at": 1_700_000_100.5,
        "created_at_iso": "2023-11-14T22:13:20.125Z",
        "updated_at_iso": "2023-11-14T22:15:00.5Z",
    },
    {
        "content": "in another store, with every 12.x column",
        "tags": "work",
        "store": "work",
        "memory_type": "decision",
        "metadata": "{}",
        "created_at": 1_700_000_001,
        "updated_at": None,
        "created_at_iso": "whenever",
        "updated_at_iso": None,
        "parent_id": "abc123",
        "version": 3,
        "confidence": 0.25,
        "last_accessed": 1_700_000_123,
        "superseded_by": "def456",
    },
    {
        "content": "deleted but kept as a tombstone",
        "tags": None,
        "memory_type": None,
        "metadata": "{broken",
        "created_at": 1_600_000_000.0,
        "updated_at": 1_600_000_000.0,
        "created_at_iso": "x",
        "updated_at_iso": "x",
        "deleted_at": 1_650_000_000.75,
        "vector": False,
    },
    {
        "content": "waiting for its embedding ✨ 🐙",
        "tags": "",
        "memory_type": "session",
        "metadata": None,
        "created_at": 1_710_000_000.0,
        "updated_at": 1_710_000_000.0,
        "created_at_iso": "2024-03-09T16:00:00Z",
        "updated_at_iso": "2024-03-09T16:00:00Z",
        "embedding_pending": 1,
        "vector": False,
    },
]


EDGES: list[tuple[Any, ...]] = [
    # 12.x's relations between two of ROWS, and an entity link of its entity graph
    (
        content_hash(ROWS[0]["content"]),
        content_hash(ROWS[1]["content"]),
        0.875,
        '["semantic", "temporal"]',
        '{"why": "same deploy"}',
        1_700_000_050.5,
        "related",
    ),
    (
        content_hash(ROWS[1]["content"]),
        content_hash(ROWS[0]["content"]),
        0.875,
        '["semantic"]',
        None,
        1_700_000_050.5,
        "contradicts",
    ),
    (content_hash(ROWS[0]["content"]), "python", 1.0, '["entity"]', "{}", 1.0, "has_entity"),
]


def dump_edges(path: Path) -> list[tuple[Any, ...]]:
    conn = schema_mod.connect(path, readonly=True, pragmas={})
    try:
        return sorted(tuple(r) for r in conn.execute("SELECT * FROM memory_graph"))
    finally:
        conn.close()


def build_v12(path: Path, rows: list[dict[str, Any]], *, embedder: str | None) -> None:
    """A 12.x-layout file holding ``rows`` as written, vectors not of unit length."""
    conn = open_rw(path)
    schema_mod.create(conn, path, dimension=384, generation="v12")
    rng = np.random.default_rng(7)
    with conn:
        if embedder is not None:
            conn.execute(
                "INSERT INTO metadata (key, value) VALUES ('memhub_embedder', ?)", (embedder,)
            )
        for row in rows:
            values = {k: v for k, v in row.items() if k != "vector"}
            values["content_hash"] = content_hash(row["content"])
            names = ", ".join(values)
            conn.execute(
                f"INSERT INTO memories ({names}) VALUES ({', '.join('?' * len(values))})",
                list(values.values()),
            )
            if row.get("vector", True):
                vector = (rng.standard_normal(384) * 3).astype("<f4").tobytes()
                conn.execute(
                    "INSERT INTO memory_embeddings (rowid, content_embedding, store) "
                    "VALUES (?, ?, ?)",
                    (conn.last_insert_rowid(), vector, row.get("store", "default")),
                )
        conn.executemany("INSERT INTO memory_graph VALUES (?, ?, ?, ?, ?, ?, ?)", EDGES)
    conn.close()


def dump(path: Path) -> tuple[list[str], dict[str, tuple[Any, ...]]]:
    """Every column but the id of every row, and its vector's bytes, by content hash."""
    conn = schema_mod.connect(path, readonly=True, pragmas={})
    try:
        columns = [str(r[1]) for r in conn.execute("PRAGMA table_info(memories)") if r[1] != "id"]
        selected = ", ".join(f"m.{c}" for c in columns)
        rows = conn.execute(
            f"SELECT {selected}, e.content_embedding FROM memories m "
            "LEFT JOIN memory_embeddings e ON e.rowid = m.id"
        ).fetchall()
    finally:
        conn.close()
    by_hash = {str(r[columns.index("content_hash")]): tuple(r) for r in rows}
    assert len(by_hash) == len(rows)
    return sorted(columns), by_hash


def migrate(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run(
        [sys.executable, "-m", "memhub", "migrate", "--json", *args],
        env=daemon_env(env),
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(done.stdout) if done.stdout.strip() else {}
    return done.returncode, report, done.stderr


def round_trip(tmp_path: Path, src: Path, url: str, layout: str) -> dict[str, Any]:
    code, there, err = migrate(str(src), url)
    assert code == 0, err
    assert there["verified"], there
    back = tmp_path / "back.db"
    code, home, err = migrate(url, str(back), "--layout", layout)
    assert code == 0, err
    assert home["verified"], home
    src_columns, src_rows = dump(src)
    back_columns, back_rows = dump(back)
    assert back_columns == src_columns
    assert back_rows == src_rows
    return there


def test_round_trip_of_a_12x_file_is_exact(pg_server: PgServer, tmp_path: Path) -> None:
    src = tmp_path / "v12.db"
    build_v12(src, ROWS, embedder="hash:v1")
    url = fresh_store(pg_server)
    there = round_trip(tmp_path, src, url, "v12")
    assert there["copied"] == len(ROWS)
    assert there["graph_edges"] == {"source": len(EDGES), "copied": len(EDGES), "held": len(EDGES)}
    assert dump_edges(tmp_path / "back.db") == sorted(EDGES)  # the graph came back exactly
    assert there["source_summary"] == there["destination_summary"]
    assert there["source_summary"]["deleted"] == 1
    assert there["source_summary"]["with_vector"] == 2
    # again: nothing copied twice, still equal
    code, again, _ = migrate(str(src), url)
    assert code == 0
    assert (again["copied"], again["already_there"], again["verified"]) == (0, len(ROWS), True)
    assert again["graph_edges"]["copied"] == 0
    # mcp-memory-service 10.x's own files have no memory_graph: the copy says so, unverified
    build_mms_v10_db(tmp_path / "old.db", [])
    conn = open_rw(tmp_path / "old.db")
    with conn:  # the same (test) model as the source, so that only the graph is in question
        conn.execute("INSERT INTO metadata (key, value) VALUES ('memhub_embedder', 'hash:v1')")
    conn.close()
    code, old, err = migrate(str(src), str(tmp_path / "old.db"))
    assert code == 1, err
    assert not old["verified"]
    assert any("memory_graph rows not copied" in line for line in old["problems"])


def test_round_trip_of_a_10x_file_is_exact(pg_server: PgServer, tmp_path: Path) -> None:
    src = tmp_path / "v10.db"
    build_mms_v10_db(
        src,
        [
            ("first legacy memory", "a,b", "note", 1_650_000_000.0, False),
            ("second legacy memory", "LEGACY", None, 1_650_000_001.0, False),
            ("a legacy tombstone", "x", "note", 1_650_000_002.0, True),
        ],
    )
    url = fresh_store(pg_server, embedder=REAL_MODEL)  # a file of mcp-memory-service's model
    there = round_trip(tmp_path, src, url, "v10")
    assert "does not record its model" in there["model"]


def test_a_partial_run_resumes(pg_server: PgServer, tmp_path: Path) -> None:
    src = tmp_path / "many.db"
    texts = [f"memory number {i} about the release train" for i in range(230)]
    build_v12(src, [{**ROWS[0], "content": t} for t in texts], embedder="hash:v1")
    url = fresh_store(pg_server)
    code, first, _ = migrate(str(src), url, "--limit", "100", "--chunk", "40")
    assert code == 0
    assert (first["rows"], first["copied"]) == (100, 100)
    code, rest, _ = migrate(str(src), url, "--chunk", "40")
    assert code == 0
    assert (rest["copied"], rest["already_there"], rest["verified"]) == (130, 100, True)


def test_another_model_is_refused_before_anything_is_written(
    pg_server: PgServer, tmp_path: Path
) -> None:
    src = tmp_path / "hash.db"
    build_v12(src, ROWS, embedder="hash:v1")
    url = fresh_store(pg_server, embedder=REAL_MODEL)
    code, _, err = migrate(str(src), url)
    assert code == 2
    assert "hash:v1" in err
    assert REAL_MODEL in err
    assert "Nothing was written" in err
    assert "--re-embed" in err
    with pg_server.connect(url.rsplit("/", 1)[1]) as conn:
        assert conn.execute("SELECT count(*) FROM memhub.memories").fetchall() == [(0,)]
    # An unrecorded (mcp-memory-service) file into a hash store: re-embedded only when asked.
    mms = tmp_path / "mms.db"
    build_v12(mms, ROWS, embedder=None)
    hashed = fresh_store(pg_server)
    code, _, err = migrate(str(mms), hashed)
    assert code == 2
    code, report, err = migrate(str(mms), hashed, "--re-embed", env={"MEMHUB_EMBEDDER": "hash"})
    assert code == 0, err
    assert report["verified"]
    assert report["model"] == "re-embedded with hash:v1"
    assert not report["vectors_compared"]
    with pg_server.connect(hashed.rsplit("/", 1)[1]) as conn:
        found = conn.execute(
            "SELECT embedding::text FROM memhub.memories WHERE content_hash = %s",
            (content_hash(ROWS[0]["content"]),),
        ).fetchall()
    expected = HashEmbedder().encode([ROWS[0]["content"]])[0]
    stored = np.array(found[0][0].strip("[]").split(","), dtype=np.float32)
    assert np.allclose(stored, expected, atol=1e-6)


def test_a_sqlite_file_served_by_a_daemon_is_refused(pg_server: PgServer, tmp_path: Path) -> None:
    url = fresh_store(pg_server)
    src = tmp_path / "src.db"
    build_v12(src, ROWS, embedder="hash:v1")
    assert migrate(str(src), url)[0] == 0
    served = tmp_path / "served.db"
    with running_daemon(served):
        code, _, err = migrate(url, str(served))
    assert code == 2
    assert "a memhub daemon serves" in err
    assert "memhub stop --db" in err


def test_running_daemons_of_the_team_store_see_what_is_migrated(
    pg_server: PgServer, tmp_path: Path
) -> None:
    url = fresh_store(pg_server)
    src = tmp_path / "src.db"
    build_v12(src, ROWS, embedder="hash:v1")
    machines = team_machines(2, url, "memhub", daemon_env(), tmp_path / "machines")
    try:
        for machine in machines:
            machine.spawn()
            machine.wait_ready()
        watcher = machines[1].info
        assert watcher is not None

        async def watch_while_migrating() -> list[m.Event]:
            async with open_daemon_client(watcher.url, watcher.token) as client:
                feed = await client.subscribe()
                done = await trio.to_thread.run_sync(lambda: migrate(str(src), url))
                assert done[0] == 0, done[2]
                events: list[m.Event] = []
                with trio.fail_after(20):
                    while len(events) < 3:  # the live rows
                        events.append(await feed.receive())
                return events

        events = trio.run(watch_while_migrating)
        assert [(e.kind, e.client) for e in events] == [("stored", "memhub migrate")] * 3
        with pg_server.connect(url.rsplit("/", 1)[1]) as conn:
            ids = [
                int(i)
                for (i,) in conn.execute(
                    "SELECT id FROM memhub.memories "
                    "WHERE deleted_at IS NULL AND embedding IS NOT NULL"
                ).fetchall()
            ]
        for machine in machines:
            info = machine.info
            assert info is not None

            def mirror(info: Any = info) -> m.MirrorStats | None:
                async def ask() -> m.MirrorStats | None:
                    async with open_daemon_client(info.url, info.token) as client:
                        reply = await client.call(m.Health(id=0))
                        assert isinstance(reply, m.HealthReport)
                        return reply.mirror

                found = trio.run(ask)
                return found if found is not None and found.rows == len(ids) else None

            assert wait_for(f"{machine.name}'s mirror", mirror).digest == rows_digest(ids)
    finally:
        for machine in machines:
            machine.stop()


@pytest.mark.compat
@pytest.mark.slow
def test_round_trip_of_a_real_mcp_memory_service_124_file(
    pg_server: PgServer, tmp_path: Path
) -> None:
    from tests.compat.mms_env import run_mms

    src = tmp_path / "sqlite_vec.db"
    items: list[dict[str, Any]] = [
        {
            "content": "The VPN certificate for staging expires every ninety days",
            "tags": ["ops", "Security"],
            "metadata": {"source": "runbook", "n": 3},
        },
        {
            "content": "Team lunch on Fridays is at the ramen place near the office",
            "tags": ["social"],
            "memory_type": "note",
        },
        {"content": "The old build server is gone; use the new runners", "tags": ["ci"]},
    ]
    run_mms(
        "12.4.0",
        src,
        {
            "ops": [
                {"op": "store", "items": items, "skip_semantic_dedup": True},
                {"op": "delete", "content_hash": content_hash(items[2]["content"])},
            ]
        },
        tmp_path,
    )
    url = fresh_store(pg_server, embedder=REAL_MODEL)
    there = round_trip(tmp_path, src, url, "v12")
    assert there["source_summary"]["rows"] == 3
    assert there["source_summary"]["with_vector"] == 2
    # and mcp-memory-service 12.4 reads the round-tripped file as its own
    back = tmp_path / "back.db"
    listed = run_mms("12.4.0", back, {"ops": [{"op": "list"}]}, tmp_path)
    contents = sorted(r["content"] for r in listed["results"][0])
    assert contents == sorted(i["content"] for i in items[:2])


def test_the_cli_prints_a_verification(pg_server: PgServer, tmp_path: Path) -> None:
    src = tmp_path / "src.db"
    build_v12(src, ROWS, embedder="hash:v1")
    url = fresh_store(pg_server)
    done = subprocess.run(
        [sys.executable, "-m", "memhub", "migrate", str(src), url],
        env=daemon_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "verification" in done.stdout
    assert f"both sides hold the same {len(ROWS)} rows" in done.stdout
    assert os.environ.get("PGPASSFILE")  # the password came from the file, not the URL
