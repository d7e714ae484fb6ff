"""What the clients' ledgers say the store must hold at the end of a stress run.

Every hash's history comes from one client (its own texts: stores, updates, deletes, one at a
time, so the ledger's times order them) or from every client (shared texts: stores only, never
deleted). A failed store or delete whose error says ``nothing was written`` changed nothing; any
other failure leaves its hash *unknown* when it is the hash's last word (the write may have
committed: a COMMIT whose reply was lost and could not be resolved), and such a hash is checked
by no rule but uniqueness.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

NOTHING_WRITTEN = "nothing was written"


@attrs.frozen
class Expectations:
    present: set[str]  # acked, not deleted since: must be active exactly once
    gone: set[str]  # last acked event a delete: must not be active
    unknown_stores: int  # failed stores of unknown outcome (the count may exceed by this)
    unknown: set[str]  # hashes whose last word was a failure of unknown outcome
    shared_acks: dict[str, int]  # shared hash -> how many clients were told "stored"
    never_written: set[str]  # every attempt failed with "nothing was written": must be absent


def _written_nothing(record: dict[str, Any]) -> bool:
    return record["outcome"] == "error" and NOTHING_WRITTEN in str(record.get("error", ""))


def expect(records: Iterable[dict[str, Any]]) -> Expectations:
    last: dict[str, tuple[float, str]] = {}
    shared_acks: dict[str, int] = {}
    shared_seen: set[str] = set()  # a shared row existed: someone was told stored or duplicate
    attempts: dict[str, set[str]] = {}
    unknown_stores = 0
    for r in records:
        if r["op"] not in ("store", "delete") or "hash" not in r:
            continue
        h = r["hash"]
        attempts.setdefault(h, set()).add(
            "nothing" if _written_nothing(r) else "error" if r["outcome"] == "error" else "other"
        )
        if r.get("shared") and r["op"] == "store":
            shared_acks[h] = shared_acks.get(h, 0) + (r["outcome"] == "ok")
            if r["outcome"] == "ok" or r.get("dup_kind") == "exact":
                shared_seen.add(h)
        if r["outcome"] == "ok":
            event = r["op"]
        elif r["outcome"] == "error" and not _written_nothing(r):
            event = "unknown"
            unknown_stores += r["op"] == "store"
        else:
            continue
        if h not in last or last[h][0] <= r["t"]:
            last[h] = (r["t"], event)
    # A shared text is never deleted: once any client saw its row, it must stay, whatever the
    # order in which the clients' answers were written down.
    return Expectations(
        present={h for h, (_, e) in last.items() if e == "store"} | shared_seen,
        gone={h for h, (_, e) in last.items() if e == "delete"} - shared_seen,
        unknown_stores=unknown_stores,
        unknown={h for h, (_, e) in last.items() if e == "unknown"} - shared_seen,
        shared_acks=shared_acks,
        never_written={h for h, kinds in attempts.items() if kinds == {"nothing"}},
    )
