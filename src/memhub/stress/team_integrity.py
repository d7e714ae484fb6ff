"""Verify a team stress run from the PostgreSQL store itself, against every machine's view.

Besides what :mod:`memhub.stress.integrity` checks in a SQLite file (acked stores present once,
acked deletes gone, vectors present and genuine, counts), a team run must show:

* ``shared_one_winner``: a text raced from every machine got at most one ``stored`` answer and
  exactly one ``stored`` change, cluster-wide;
* ``nothing_written_holds``: a store refused with "nothing was written" left no row;
* ``feed_replays_to_table``: replaying ``changes`` in ``seq`` order (stored needs an inactive
  hash, deleted and updated an active one) gives exactly the table's active rows;
* ``acks_attributed``: every acknowledged store has its ``stored`` change, named after the
  client and the machine that made it;
* ``subscribers_exactly_once_in_order``: each machine's subscriber received the feed exactly,
  in ``seq`` order, once (a subscriber whose daemon was killed: each of its sessions is an
  unbroken stretch of the feed, and the last reaches its end);
* ``mirrors_equal_server``: each daemon's vector mirror holds exactly the active rows with a
  vector, at the feed's last position.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import psycopg

from memhub.embedding import Embedder
from memhub.protocol import messages as m
from memhub.storage.mirror import rows_digest, unit_rows
from memhub.storage.postgres.target import PgTarget
from memhub.storage.postgres.vectors import register, vector_type
from memhub.stress.expectations import Expectations
from memhub.stress.integrity import Check

Feed = list[tuple[str, str, str, str]]  # (kind, content_hash, origin, client) in seq order


@attrs.frozen
class MachineView:
    """What one machine's daemon and subscriber saw, for the checks."""

    name: str
    mirror: m.MirrorStats | None  # from its health report once caught up
    sessions: list[list[tuple[str, str, str, str]]]
    starts: list[float]  # when each session's subscription was confirmed (epoch seconds)
    restarted: bool  # its daemon was killed during the run


@attrs.frozen
class StoreState:
    active: dict[str, tuple[int, str, bool]]  # hash -> (id, content, has a vector)
    all_hashes: list[str]
    deleted_with_vector: int
    feed: Feed
    feed_at: list[float]  # each change's batch time on its writer (epoch seconds)
    max_seq: int


def read_state(target: PgTarget, start_seq: int) -> StoreState:
    s = target.schema
    with psycopg.connect(target.url, connect_timeout=10, **target.connect_kwargs()) as conn:
        rows = conn.execute(
            f"SELECT id, content_hash, content, embedding IS NOT NULL FROM {s}.memories "
            "WHERE deleted_at IS NULL"
        ).fetchall()
        all_hashes = [r[0] for r in conn.execute(f"SELECT content_hash FROM {s}.memories")]
        (deleted_with_vector,) = conn.execute(
            f"SELECT count(*) FROM {s}.memories "
            "WHERE deleted_at IS NOT NULL AND embedding IS NOT NULL"
        ).fetchall()[0]
        changes = conn.execute(
            f"SELECT kind, content_hash, origin, client, at FROM {s}.changes "
            "WHERE seq > %s ORDER BY seq",
            (start_seq,),
        ).fetchall()
        (max_seq,) = conn.execute(f"SELECT COALESCE(max(seq), 0) FROM {s}.changes").fetchall()[0]
    return StoreState(
        active={str(h): (int(i), str(c), bool(v)) for i, h, c, v in rows},
        all_hashes=[str(h) for h in all_hashes],
        deleted_with_vector=int(deleted_with_vector),
        feed=[(str(k), str(h), str(o), str(c)) for k, h, o, c, _ in changes],
        feed_at=[float(row[4]) for row in changes],
        max_seq=int(max_seq),
    )


def verify(
    target: PgTarget,
    records: list[dict[str, Any]],
    expected: Expectations,
    machines: Sequence[MachineView],
    clients: dict[int, str],
    embedder: Embedder,
    *,
    start_seq: int,
    exclusive: bool,
    sample: int = 50,
) -> list[Check]:
    """Every check; ``clients`` names each client's machine, ``exclusive``: only they wrote."""
    state = read_state(target, start_seq)
    active = state.active
    checks: list[Check] = []
    missing = sorted(expected.present - set(active))
    checks.append(
        Check(
            "acked_stores_present",
            not missing,
            f"{len(expected.present)} must exist, {len(missing)} missing {missing[:3]}",
        )
    )
    lingering = sorted(expected.gone & set(active))
    checks.append(
        Check(
            "acked_deletes_gone",
            not lingering,
            f"{len(expected.gone)} must be gone, {len(lingering)} still active {lingering[:3]}",
        )
    )
    dupes = len(state.all_hashes) - len(set(state.all_hashes))
    checks.append(Check("hashes_unique", dupes == 0, f"{dupes} repeated hashes cluster-wide"))
    checks.append(shared_check(expected, state))
    written = sorted(expected.never_written & set(state.all_hashes))
    checks.append(
        Check(
            "nothing_written_holds",
            not written,
            f"{len(expected.never_written)} stores refused with 'nothing was written', "
            f"{len(written)} of them stored anyway {written[:3]}",
        )
    )
    bare = sum(1 for _, _, has in active.values() if not has)
    checks.append(
        Check(
            "memories_have_embeddings",
            bare == 0 and state.deleted_with_vector == 0,
            f"{bare} active memories without a vector, {state.deleted_with_vector} deleted "
            "ones still with one",
        )
    )
    checks.append(_reembedding(target, active, embedder, sample))
    if exclusive:
        upper = len(expected.present) + len(expected.unknown)
        ok = len(expected.present) <= len(active) <= upper
        detail = (
            f"{len(active)} active, expected {len(expected.present)} (+ up to "
            f"{len(expected.unknown)} of unknown outcome)"
        )
    else:
        ok = len(active) >= len(expected.present)
        detail = f"{len(active)} active, at least {len(expected.present)} expected (shared store)"
    checks.append(Check("counts_consistent", ok, detail))
    if exclusive:
        checks.append(replay_check(state))
    checks.append(attributed_check(records, clients, state.feed))
    checks.append(subscribers_check(machines, state))
    checks.append(mirrors_check(machines, state))
    return checks


def shared_check(expected: Expectations, state: StoreState) -> Check:
    stored: dict[str, int] = {}
    for kind, h, _, _ in state.feed:
        if kind == "stored" and h in expected.shared_acks:
            stored[h] = stored.get(h, 0) + 1
    over_acked = sorted(h for h, n in expected.shared_acks.items() if n > 1)
    twice = sorted(h for h, n in stored.items() if n > 1)
    raced = len(expected.shared_acks)
    return Check(
        "shared_one_winner",
        not over_acked and not twice,
        f"{raced} shared texts raced from every client; {len(over_acked)} acked twice, "
        f"{len(twice)} stored twice in the feed",
    )


def _reembedding(
    target: PgTarget, active: dict[str, tuple[int, str, bool]], embedder: Embedder, sample: int
) -> Check:
    picked = random.Random(0).sample(sorted(active), min(sample, len(active)))
    worst = 0.0
    if picked:
        with psycopg.connect(target.url, connect_timeout=10, **target.connect_kwargs()) as conn:
            info = vector_type(conn)
            assert info is not None
            register(conn, info)
            with conn.cursor(binary=True) as cur:
                cur.execute(
                    f"SELECT content_hash, embedding FROM {target.schema}.memories "
                    "WHERE content_hash = ANY(%s) AND embedding IS NOT NULL",
                    (picked,),
                )
                stored = {str(h): v for h, v in cur.fetchall()}
        fresh = embedder.encode([active[h][1] for h in picked])
        for h, vec in zip(picked, fresh, strict=True):
            if h not in stored:
                worst = float("inf")
                continue
            worst = max(worst, float(np.max(np.abs(unit_rows(stored[h]) - vec))))
    return Check(
        "vectors_match_reembedding",
        worst <= 1e-4,
        f"{len(picked)} sampled, max abs difference {worst:.2e}",
    )


def replay_check(state: StoreState) -> Check:
    """Replay the whole feed: every change must fit the state before it."""
    live: set[str] = set()
    misfits = 0
    for kind, h, _, _ in state.feed:
        if kind == "stored":
            misfits += h in live
            live.add(h)
        elif kind == "deleted":
            misfits += h not in live
            live.discard(h)
        elif h not in live:
            misfits += 1  # an update of a memory that was not there
    differ = len(live ^ set(state.active))
    return Check(
        "feed_replays_to_table",
        misfits == 0 and differ == 0,
        f"{len(state.feed)} changes replayed: {misfits} out of place, "
        f"{differ} rows differ from the table",
    )


def attributed_check(records: list[dict[str, Any]], clients: dict[int, str], feed: Feed) -> Check:
    stored = {(h, origin, client) for kind, h, origin, client in feed if kind == "stored"}
    acked = [
        r
        for r in records
        if r["op"] == "store" and r["outcome"] == "ok" and r.get("client") in clients
    ]
    unnamed = [
        r["hash"]
        for r in acked
        if (r["hash"], clients[r["client"]], f"stress-{r['client']}") not in stored
    ]
    return Check(
        "acks_attributed",
        not unnamed,
        f"{len(acked)} acked stores, {len(unnamed)} without their stored change by that client "
        f"and machine {unnamed[:3]}",
    )


def _is_stretch(session: Sequence[tuple[str, str, str, str]], feed: Feed) -> int | None:
    """Where ``session`` starts as an unbroken stretch of ``feed`` (None: it is not one)."""
    if not session:
        return len(feed)
    for start, change in enumerate(feed):
        if change == session[0] and feed[start : start + len(session)] == list(session):
            return start
    return None


def first_after(state: StoreState, t: float) -> int:
    """The index of the first change whose batch began after ``t`` (len(feed) if none): a
    subscription confirmed at ``t`` must receive it and everything after it."""
    return next((i for i, at in enumerate(state.feed_at) if at > t), len(state.feed))


def subscribers_check(machines: Sequence[MachineView], state: StoreState) -> Check:
    feed = state.feed
    problems: list[str] = []
    for view in machines:
        if not view.restarted:
            got = [e for session in view.sessions for e in session]
            if len(view.sessions) != 1 or got != feed:
                problems.append(
                    f"{view.name}: {len(got)} events in {len(view.sessions)} session(s) for "
                    f"{len(feed)} changes"
                )
            continue
        for number, session in enumerate(view.sessions, 1):
            start = _is_stretch(session, feed)
            if start is None:
                problems.append(f"{view.name}: session {number} is not an unbroken stretch")
            elif start > first_after(state, view.starts[number - 1]):
                problems.append(f"{view.name}: session {number} missed changes after it began")
            elif number == len(view.sessions) and start + len(session) != len(feed):
                problems.append(f"{view.name}: its last session stops short of the feed's end")
    restarted = sum(1 for view in machines if view.restarted)
    again = f" ({restarted} restarted: each session unbroken from its start)" if restarted else ""
    return Check(
        "subscribers_exactly_once_in_order",
        not problems,
        "; ".join(problems)
        or f"{len(machines)} machines' subscribers, {len(feed)} changes each, in seq order{again}",
    )


def mirrors_check(machines: Sequence[MachineView], state: StoreState) -> Check:
    ids = [i for i, _, has in state.active.values() if has]
    digest = rows_digest(ids)
    problems = []
    for view in machines:
        mirror = view.mirror
        if mirror is None:
            problems.append(f"{view.name}: no mirror in its health report")
            continue
        if (mirror.rows, mirror.digest, mirror.position) != (len(ids), digest, state.max_seq):
            problems.append(
                f"{view.name}: {mirror.rows} rows {mirror.digest} at {mirror.position}, server "
                f"{len(ids)} rows {digest} at {state.max_seq}"
            )
    return Check(
        "mirrors_equal_server",
        not problems,
        "; ".join(problems) or f"{len(machines)} mirrors of {len(ids)} rows, digest {digest}",
    )
