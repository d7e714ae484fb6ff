"""Fuzzing the protocol codec: whatever arrives, the answer is a message or a BadRequest.

Bounded for CI: a fixed number of examples per property and a per-example deadline.
"""

from __future__ import annotations

import json
import string
from typing import Any, get_args

import attrs
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from memhub.errors import BadRequest
from memhub.protocol import messages as m
from memhub.protocol.codec import CLIENT_TAGS, TAGS, decode_client, decode_server, encode

FUZZ = settings(
    max_examples=200,
    deadline=1000,  # ms per example; generous for a loaded 2-core host
    suppress_health_check=[HealthCheck.too_slow],
    database=None,  # CI runs are independent; crashes found become explicit @example cases
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
field_names = st.sampled_from(
    sorted({f.name for cls in TAGS for f in attrs.fields(cls)} | {"type", "id", "colour"})
)
message_like = st.fixed_dictionaries(
    {"type": st.sampled_from([*sorted(TAGS.values()), "teleport", ""])},
    optional={"id": json_values | st.integers(min_value=-(2**63), max_value=2**64)},
).flatmap(
    lambda base: st.dictionaries(field_names, json_values, max_size=6).map(
        lambda extra: {**extra, **base}
    )
)


def deep(levels: int) -> str:
    return (
        '{"type": "store", "id": 1, "content": "x", "metadata": '
        + ('{"k": ' * levels + "{}" + "}" * levels)
        + "}"
    )


def decodes_or_bad_request(raw: str | bytes, decode: Any) -> object:
    try:
        return decode(raw)
    except BadRequest as exc:
        failure = exc
    assert failure.message
    assert failure.request_id is None or type(failure.request_id) is int
    return failure


@FUZZ
@given(st.binary(max_size=300) | st.text(max_size=300))
@example(b"\xff\xfe")
@example('"\\ud800"')
@example("[" * 2000)
@example(deep(1000))
@example('{"type": "list", "id": 1, "page": 18446744073709551615}')
def test_any_bytes_decode_to_a_message_or_bad_request(raw):
    decodes_or_bad_request(raw, decode_client)
    decodes_or_bad_request(raw, decode_server)


@FUZZ
@given(message_like)
def test_any_message_shaped_object_decodes_to_a_message_or_bad_request(obj):
    raw = json.dumps(obj)  # Python's json: any integer, as a hostile client may send
    result = decodes_or_bad_request(raw, decode_client)
    if isinstance(result, BadRequest):
        request_id = obj.get("id")
        in_range = type(request_id) is int and -(2**63) <= request_id < 2**63
        if in_range and obj["type"] in CLIENT_TAGS:
            assert result.request_id == request_id
    else:
        assert TAGS[type(result)] == obj["type"]
        # What was accepted encodes again (the reply path can echo anything accepted).
        assert decode_client(encode(result)) == result  # type: ignore[arg-type]


client_messages = st.one_of(
    *(
        st.builds(cls, id=st.integers(min_value=0, max_value=2**63 - 1))
        for cls in get_args(m.ClientMsg)
        if all(f.default is not attrs.NOTHING or f.name == "id" for f in attrs.fields(cls))
    ),
    st.builds(m.Store, id=st.integers(0, 2**31), content=st.text(max_size=50)),
    st.builds(m.Get, id=st.integers(0, 2**31), content_hash=st.text(string.hexdigits, max_size=64)),
)


@FUZZ
@given(client_messages, st.data())
def test_mutated_valid_frames_decode_to_a_message_or_bad_request(msg, data):
    frame = encode(msg)
    assert decode_client(frame) == msg
    position = data.draw(st.integers(0, len(frame)))
    cut = data.draw(st.integers(0, 8))
    insert = data.draw(st.text(max_size=8))
    mutated = frame[:position] + insert + frame[position + cut :]
    decodes_or_bad_request(mutated, decode_client)
