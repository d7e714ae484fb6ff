"""The team stress run's checks bite: each fails on the fault it exists to find (no server)."""

from __future__ import annotations

from memhub.protocol import messages as m
from memhub.storage.mirror import rows_digest
from memhub.stress.expectations import expect
from memhub.stress.team_integrity import (
    MachineView,
    StoreState,
    attributed_check,
    mirrors_check,
    replay_check,
    shared_check,
    subscribers_check,
)

A = ("stored", "a", "m1", "stress-0")
B = ("stored", "b", "m2", "stress-1")
DEL_A = ("deleted", "a", "m2", "stress-1")
C = ("stored", "c", "m1", "stress-0")
FEED = [A, B, DEL_A, C]


def state(feed: list[tuple[str, str, str, str]] = FEED, **active: int) -> StoreState:
    rows = active or {"b": 2, "c": 3}
    return StoreState(
        active={h: (i, h, True) for h, i in rows.items()},
        all_hashes=["a", *rows],
        deleted_with_vector=0,
        feed=feed,
        feed_at=[10.0 + i for i in range(len(feed))],
        max_seq=len(feed),
    )


def view(
    sessions: list[list[tuple[str, str, str, str]]],
    *,
    restarted: bool = False,
    starts: list[float] | None = None,
) -> MachineView:
    return MachineView(
        name="m1",
        mirror=None,
        sessions=sessions,
        starts=starts or [0.0] * len(sessions),
        restarted=restarted,
    )


def test_subscribers_must_get_every_change_once_in_order() -> None:
    assert subscribers_check([view([FEED])], state()).ok
    assert not subscribers_check([view([[A, B, C]])], state()).ok  # one missed
    assert not subscribers_check([view([[A, B, DEL_A, DEL_A, C]])], state()).ok  # twice
    assert not subscribers_check([view([[B, A, DEL_A, C]])], state()).ok  # out of order
    assert not subscribers_check([view([[A, B], [DEL_A, C]])], state()).ok  # reconnected


def test_a_restarted_machine_sessions_are_unbroken_stretches() -> None:
    ok = view([[A], [DEL_A, C]], restarted=True, starts=[0.0, 11.5])
    assert subscribers_check([ok], state()).ok
    gap = view([[A], [B, C]], restarted=True, starts=[0.0, 10.5])
    assert not subscribers_check([gap], state()).ok
    late = view([[A], [C]], restarted=True, starts=[0.0, 11.5])  # missed DEL_A after its start
    assert not subscribers_check([late], state()).ok
    short = view([[A], [DEL_A]], restarted=True, starts=[0.0, 11.5])
    assert not subscribers_check([short], state()).ok


def mirror(rows: int, digest: str, position: int) -> m.MirrorStats:
    return m.MirrorStats(rows=rows, position=position, digest=digest)


def test_mirrors_must_equal_the_server() -> None:
    good = MachineView(
        name="m1", mirror=mirror(2, rows_digest([2, 3]), 4), sessions=[], starts=[], restarted=False
    )
    assert mirrors_check([good], state()).ok
    for wrong in (
        mirror(2, rows_digest([2, 9]), 4),
        mirror(1, rows_digest([2]), 4),
        mirror(2, rows_digest([2, 3]), 3),
    ):
        bad = MachineView(name="m1", mirror=wrong, sessions=[], starts=[], restarted=False)
        assert not mirrors_check([bad], state()).ok


def test_the_feed_must_replay_to_the_table() -> None:
    assert replay_check(state()).ok
    assert not replay_check(state([A, A, B, C])).ok  # stored twice without a delete
    assert not replay_check(state([A, B, C])).ok  # a delete missing from the feed
    assert not replay_check(state(FEED, b=2)).ok  # a row the feed does not account for


def test_a_shared_text_has_one_winner() -> None:
    records = [
        {"op": "store", "outcome": "ok", "hash": "s", "shared": True, "t": 1.0, "client": 0},
        {
            "op": "store",
            "outcome": "duplicate",
            "dup_kind": "exact",
            "hash": "s",
            "shared": True,
            "t": 1.1,
            "client": 1,
        },
    ]
    feed = [("stored", "s", "m1", "stress-0")]
    assert shared_check(expect(records), state(feed, s=1)).ok
    twice = [*records, {**records[0], "client": 1}]
    assert not shared_check(expect(twice), state(feed, s=1)).ok
    assert not shared_check(expect(records), state([*feed, *feed], s=1)).ok


def test_an_ack_must_have_its_change_from_that_client_and_machine() -> None:
    acked = [{"op": "store", "outcome": "ok", "hash": "a", "t": 1.0, "client": 0}]
    assert attributed_check(acked, {0: "m1"}, FEED).ok
    assert not attributed_check(acked, {0: "m2"}, FEED).ok
    assert not attributed_check([{**acked[0], "hash": "z"}], {0: "m1"}, FEED).ok


def test_an_unknown_outcome_is_not_held_against_the_store() -> None:
    records = [
        {"op": "store", "outcome": "ok", "hash": "x", "t": 1.0, "client": 0},
        {
            "op": "delete",
            "outcome": "error",
            "error": "DatabaseError: may or may not",
            "hash": "x",
            "t": 2.0,
            "client": 0,
        },
        {
            "op": "store",
            "outcome": "error",
            "error": "DatabaseError: …; nothing was written",
            "hash": "y",
            "t": 3.0,
            "client": 0,
        },
    ]
    found = expect(records)
    assert found.present == set()
    assert found.unknown == {"x"}
    assert found.never_written == {"y"}
