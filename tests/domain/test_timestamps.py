from __future__ import annotations

import warnings
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memhub.domain.timestamps import iso_utc, parse_date_bound
from tests.domain.helpers import local

pytestmark = pytest.mark.usefixtures("new_york_time")


@pytest.mark.parametrize(
    ("ts", "text"),
    [
        pytest.param(0.0, "1970-01-01T00:00:00Z", id="epoch"),
        pytest.param(1794994200.0, "2026-11-18T09:30:00Z", id="whole-second"),
        pytest.param(1794994200.123456, "2026-11-18T09:30:00.123456Z", id="micros"),
        pytest.param(1794994200.5, "2026-11-18T09:30:00.500000Z", id="half-second"),
    ],
)
def test_iso_utc_known_values(ts, text):
    assert iso_utc(ts) == text


@given(st.floats(min_value=-2e9, max_value=4e9, allow_nan=False))
def test_iso_utc_matches_utcfromtimestamp(ts):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        expected = datetime.utcfromtimestamp(ts).isoformat() + "Z"
    assert iso_utc(ts) == expected


def _local(*fields: int) -> float:
    return local(*fields).timestamp()


def test_a_date_is_local_midnight():
    assert parse_date_bound("2026-11-18") == _local(2026, 11, 18)
    assert parse_date_bound(" 2026-11-18 ") == datetime(2026, 11, 18, 5, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("2026-11-18T09:30:00", datetime(2026, 11, 18, 14, 30, tzinfo=UTC), id="naive"),
        pytest.param("2026-11-18T09:30:00Z", datetime(2026, 11, 18, 9, 30, tzinfo=UTC), id="z"),
        pytest.param(
            "2026-11-18 11:30:00+02:00", datetime(2026, 11, 18, 9, 30, tzinfo=UTC), id="offset"
        ),
    ],
)
def test_a_date_time_is_local_unless_it_has_an_offset(value, expected):
    assert parse_date_bound(value) == expected.timestamp()


@pytest.mark.parametrize("value", ["", "yesterday", "2026-13-01", "11/18/2026", "2026-11-18T25:00"])
def test_invalid_bound_names_the_format(value):
    with pytest.raises(ValueError, match="expected YYYY-MM-DD"):
        parse_date_bound(value)
