"""CI smoke run of ``memhub stress`` over a team store: the real command, three machines."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.pgserver import PgServer

TEAM_CHECKS = {
    "acked_stores_present",
    "acked_deletes_gone",
    "hashes_unique",
    "shared_one_winner",
    "nothing_written_holds",
    "memories_have_embeddings",
    "vectors_match_reembedding",
    "counts_consistent",
    "feed_replays_to_table",
    "acks_attributed",
    "subscribers_exactly_once_in_order",
    "mirrors_equal_server",
}


@pytest.mark.slow
def test_stress_three_machines_smoke(pg_server: PgServer) -> None:
    pg_server.create_database("stress_smoke")
    url = pg_server.passwordless_url(dbname="stress_smoke")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "memhub",
            "stress",
            "--embedder",
            "hash",
            "--json",
            "--db",
            url,
            "--machines",
            "3",
            "--clients",
            "4",
            "--duration",
            "3",
        ],
        capture_output=True,
        timeout=600,
    )
    report = json.loads(done.stdout)
    assert done.returncode == 0, json.dumps(report, indent=1)[-3000:]
    run = report["runs"][0]
    assert {c["name"] for c in run["checks"]} == TEAM_CHECKS
    assert all(c["ok"] for c in run["checks"]), run["checks"]
    assert [machine["clients"] for machine in run["machines"]] == [2, 1, 1]
    assert run["errors"] == {}
    assert run["outcomes"]["ok"] > 0
    # the temporary schema is gone, and nothing stays connected
    with pg_server.connect("stress_smoke") as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'memhub_stress_%'"
        ).fetchall()
    assert left == [(0,)]
