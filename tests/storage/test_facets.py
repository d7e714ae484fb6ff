"""The facet index never misses a row a filter matches, whatever the feed did before.

Random histories of stores, tag edits, moves between stores and deletes go through
:class:`FacetIndex` as change-feed batches; after each, the candidates for random tag and
store filters are compared with a plain Python model of the tag rule. Without a store part the
candidates are exactly the matching rows; with one they may include rows of other stores
(a big store narrows little, so the index may leave that check to the snapshot), never fewer.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from memhub.domain.tags import tag_keys
from memhub.protocol import messages as m
from memhub.storage.facets import FacetIndex
from memhub.storage.model import Change, Facets, Filters

TAGS = ["alpha", "Beta", "be ta", "gamma", "ops", "x"]
STORES = ["default", "home", "work"]


def record(tags: list[str], store: str) -> m.MemoryRecord:
    return m.MemoryRecord(
        content_hash="h",
        content="c",
        tags=tags,
        memory_type="note",
        metadata={},
        created_at=0.0,
        updated_at=0.0,
        created_at_iso="",
        updated_at_iso="",
        store=store,
    )


operation = st.tuples(
    st.sampled_from(["store", "update", "delete"]),
    st.integers(1, 40),
    st.lists(st.sampled_from(TAGS), max_size=3),
    st.sampled_from(STORES),
)
a_filter = st.tuples(
    st.lists(st.sampled_from([*TAGS, "absent", " "]), max_size=3),
    st.booleans(),
    st.none() | st.sampled_from([*STORES, "nowhere"]),
)


def matches(tags: list[str], store: str, wanted: list[str], match_all: bool, in_store: Any) -> bool:
    if in_store is not None and store != in_store:
        return False
    keys = tag_keys(wanted)
    if not wanted:
        return True
    if not keys:
        return False  # only blank tags: nothing passes
    held = set(tag_keys(tags))
    return all(k in held for k in keys) if match_all else any(k in held for k in keys)


@settings(max_examples=150, deadline=None)
@given(
    loaded=st.lists(operation, max_size=30),
    history=st.lists(st.lists(operation, min_size=1, max_size=6), max_size=8),
    filters=st.lists(a_filter, min_size=1, max_size=6),
    fold_after=st.sampled_from([0, 2, 4096]),
)
def test_candidates_hold_every_matching_row(loaded, history, filters, fold_after):
    model: dict[int, tuple[list[str], str]] = {}
    for _, row, tags, store in loaded:
        model[row] = (tags, store)
    index = FacetIndex(fold_after=fold_after)  # small values fold on nearly every change
    index.load((row, tags, store) for row, (tags, store) in model.items())
    check(index, model, filters)
    for batch in history:
        changes = []
        for kind, row, tags, store in batch:
            old = model.get(row)
            before = Facets(tuple(old[0]), "note", 0.0, old[1]) if old else None
            if kind == "delete" or (kind == "update" and old is None):
                if old is None:
                    continue
                del model[row]
                changes.append(Change(kind="deleted", content_hash="h", row=row, before=before))
                continue
            model[row] = (tags, store)
            changes.append(
                Change(
                    kind="updated" if old else "stored",
                    content_hash="h",
                    row=row,
                    memory=record(tags, store),
                    before=before,
                    store=store,
                )
            )
        index.apply(changes)
        check(index, model, filters)


def check(index: FacetIndex, model: dict[int, tuple[list[str], str]], filters: list[Any]) -> None:
    for wanted, match_all, in_store in filters:
        got = index.candidates(Filters(tags=wanted, match_all=match_all, store=in_store))
        want = {
            row
            for row, (tags, store) in model.items()
            if matches(tags, store, wanted, match_all, in_store)
        }
        if not wanted and in_store is None:
            assert got is None  # nothing to narrow
            continue
        if got is None:
            # the store part alone may decline to narrow (a store of most rows); tags never
            assert not wanted
            continue
        found = {int(r) for r in got}
        assert len(found) == len(got)  # no row twice
        assert want <= found
        if in_store is None:
            assert found == want
        else:
            ignoring_store = {
                row
                for row, (tags, _) in model.items()
                if matches(tags, "", wanted, match_all, None)
            }
            assert found <= ignoring_store
