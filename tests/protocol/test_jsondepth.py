"""The depth scan that guards every parser of untrusted JSON (memhub.protocol.jsondepth)."""

from __future__ import annotations

import contextlib
import json
import sys
from types import FrameType

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from memhub.protocol.jsondepth import (
    MAX_JSON_DEPTH,
    TooDeep,
    check_json_depth,
    json_depth,
    outline,
)
from memhub.protocol.limits import nesting_depth

# Strings full of what the scan must not mistake for structure.
TRICKY_TEXT = st.text(alphabet=st.sampled_from('[]{}"\\,:ab\n\x00é\u2028'), max_size=12)
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TRICKY_TEXT),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(TRICKY_TEXT, inner, max_size=4)
    ),
    max_leaves=40,
)


@given(JSON_VALUES, st.booleans())
def test_the_scan_agrees_with_the_parsed_value(value, ascii_only):
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert json_depth(text) == nesting_depth(value, stop_after=10**6)
    assert json_depth(text.encode()) == json_depth(text)


@given(st.integers(min_value=0, max_value=400), st.sampled_from(["[", '{"k":']), TRICKY_TEXT)
def test_deep_nests_are_counted_and_stop_at_the_limit(depth, opener, filler):
    closer = "]" if opener == "[" else "}"
    text = opener * depth + json.dumps(filler) + closer * depth
    assert json_depth(text, stop_after=10**6) == depth
    assert json_depth(text) == min(depth, MAX_JSON_DEPTH + 1)
    if depth > MAX_JSON_DEPTH:
        with pytest.raises(TooDeep, match=f"deeper than {MAX_JSON_DEPTH} levels"):
            check_json_depth(text)
    else:
        check_json_depth(text)


MALFORMED_BITS = st.text(alphabet=st.sampled_from('[]{}"\\,:1a '), max_size=30)
#: Frames json.loads needs besides one per level (its own calls, building the error).
PARSER_FRAMES = 50


@given(MALFORMED_BITS, st.integers(min_value=0, max_value=600), MALFORMED_BITS, MALFORMED_BITS)
def test_no_parser_goes_deeper_than_the_scan_counted(prefix, levels, middle, suffix):
    # Whatever the text (malformed included), a parser fails before recursing past the count:
    # with a recursion limit of the count (plus a constant), json.loads never runs out of it.
    text = prefix + "[" * levels + middle + "]" * levels + suffix
    counted = json_depth(text, stop_after=10**6)
    limit = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(_stack_depth() + PARSER_FRAMES + counted)
        with contextlib.suppress(ValueError):
            json.loads(text)
    finally:
        sys.setrecursionlimit(limit)
    if counted <= 1000:
        with contextlib.suppress(orjson.JSONDecodeError):
            orjson.loads(text)


def _stack_depth() -> int:
    frame: FrameType | None = sys._getframe()
    depth = 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


def test_a_million_levels_is_refused_without_recursing():
    with pytest.raises(TooDeep):
        check_json_depth("[" * 1_000_000 + "]" * 1_000_000)
    with pytest.raises(TooDeep):
        check_json_depth("[" * 1_000_000)  # unterminated: refused all the same


def test_lone_surrogates_and_binary_do_not_break_the_scan():
    assert json_depth('["\ud800"]') == 1
    assert json_depth(b'["\xff\xfe", [1]]') == 2


def _cut(value: object, keep: int) -> object:
    """``value`` with every container deeper than ``keep`` levels replaced by None."""
    if not isinstance(value, list | dict):
        return value
    if keep == 0:
        return None
    if isinstance(value, list):
        return [_cut(item, keep - 1) for item in value]
    return {key: _cut(item, keep - 1) for key, item in value.items()}


@given(JSON_VALUES, st.integers(min_value=1, max_value=4))
def test_an_outline_keeps_the_outer_levels_and_nulls_the_rest(value, keep):
    outlined = outline(json.dumps(value), keep)
    assert outlined is not None
    assert json_depth(outlined) <= keep
    assert json.loads(outlined) == _cut(value, keep)


def test_an_outline_of_a_request_too_deep_to_parse_still_names_its_id():
    text = '{"method": "tools/call", "params": ' + "[" * 5000 + "]" * 5000 + ', "id": "x"}'
    assert json.loads(outline(text) or b"") == {"method": "tools/call", "params": None, "id": "x"}
    assert outline(text, max_bytes=100) is None
