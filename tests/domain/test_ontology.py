from __future__ import annotations

import logging

import pytest

from memhub.domain.ontology import (
    TAXONOMY,
    canonical_memory_type,
    custom_types_from_env,
    known_types,
)


def test_taxonomy_has_upstreams_twelve_base_types():
    assert list(TAXONOMY) == [
        "observation",
        "decision",
        "learning",
        "error",
        "pattern",
        "planning",
        "ceremony",
        "milestone",
        "stakeholder",
        "meeting",
        "research",
        "communication",
    ]
    # 10.59 has 66 subtypes (its docstring's "63" is stale); 12.2 adds three observation ones.
    assert sum(len(subs) for subs in TAXONOMY.values()) == 69
    assert TAXONOMY["observation"][-3:] == ("user_correction", "tool_outcome", "preference_signal")
    # "session" and "note" are subtypes of observation and nothing else.
    assert len(known_types()) == 12 + 69


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        pytest.param(None, "note", id="none"),
        pytest.param("", "note", id="empty"),
        pytest.param("   ", "note", id="blank"),
        pytest.param("decision", "decision", id="base"),
        pytest.param(" Decision ", "decision", id="base-case-and-space"),
        pytest.param("code_edit", "code_edit", id="subtype"),
        pytest.param("NOTE", "note", id="subtype-upper"),
        pytest.param("tool_outcome", "tool_outcome", id="12x-subtype"),
    ],
)
def test_canonical_memory_type_accepts_known_types(requested, expected):
    assert canonical_memory_type(requested) == (expected, None)


def test_unknown_type_becomes_observation_with_upstreams_warning():
    stored, warning = canonical_memory_type("Fact")
    assert stored == "observation"
    assert warning == (
        "Warning: requested memory_type 'Fact' is not in the ontology — stored as "
        "'observation'. Register custom types via the MCP_CUSTOM_MEMORY_TYPES env var, "
        """e.g. '{"Fact": []}'."""
    )


def test_custom_types_extend_the_ontology():
    custom = custom_types_from_env(
        {"MCP_CUSTOM_MEMORY_TYPES": '{"Legal": ["Contract", "nda"], "decision": ["vote"]}'}
    )
    assert custom == {"legal": ("contract", "nda"), "decision": ("vote",)}
    assert canonical_memory_type("legal", custom) == ("legal", None)
    assert canonical_memory_type("Contract", custom) == ("contract", None)
    assert canonical_memory_type("vote", custom) == ("vote", None)
    assert canonical_memory_type("vote") == ("observation", canonical_memory_type("vote")[1])
    assert canonical_memory_type("vote")[1] is not None


def test_custom_base_type_without_subtypes_is_registered():
    custom = custom_types_from_env({"MCP_CUSTOM_MEMORY_TYPES": '{"session-summary": []}'})
    assert canonical_memory_type("session-summary", custom) == ("session-summary", None)


def test_custom_types_drop_invalid_names(caplog):
    raw = '{"9lives": [], "ok": ["good", "bad name", 3, "-x"], "notalist": "sub"}'
    with caplog.at_level(logging.WARNING, logger="memhub.domain.ontology"):
        custom = custom_types_from_env({"MCP_CUSTOM_MEMORY_TYPES": raw})
    assert custom == {"ok": ("good",)}
    assert "9lives" in caplog.text
    assert "notalist" in caplog.text


@pytest.mark.parametrize(
    "environ",
    [
        pytest.param({}, id="unset"),
        pytest.param({"MCP_CUSTOM_MEMORY_TYPES": ""}, id="empty"),
        pytest.param({"MCP_CUSTOM_MEMORY_TYPES": "{not json"}, id="bad-json"),
        pytest.param({"MCP_CUSTOM_MEMORY_TYPES": '["a"]'}, id="not-an-object"),
    ],
)
def test_custom_types_ignore_unusable_values(environ):
    assert custom_types_from_env(environ) == {}
