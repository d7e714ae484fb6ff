"""The HTTP endpoint's settings: upstream's variables, memhub's clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from memhub.config import ConfigError, Settings


def test_defaults_are_upstreams_and_off() -> None:
    s = Settings.from_env({})
    assert (s.http_enabled, s.http_host, s.http_port) == (False, "127.0.0.1", 8000)
    assert (s.api_key, s.allow_anonymous, s.anonymous_scope) == (None, False, "read write")
    assert s.http_max_body_bytes == 1024 * 1024


def test_upstream_words_and_an_empty_key() -> None:
    s = Settings.from_env(
        {
            "MCP_HTTP_ENABLED": "TRUE",
            "MCP_ALLOW_ANONYMOUS_ACCESS": "enabled",
            "MCP_API_KEY": "",
            "MCP_ANONYMOUS_SCOPE": " read ",
            "MCP_HTTP_PORT": "0",
        }
    )
    assert s.http_enabled
    assert s.allow_anonymous
    assert s.api_key is None
    assert s.anonymous_scope == "read"
    assert s.http_port == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MCP_HTTP_ENABLED", "maybe"),
        ("MCP_ALLOW_ANONYMOUS_ACCESS", "sure"),
        ("MCP_HTTP_PORT", "70000"),
        ("MCP_HTTP_PORT", "http"),
        ("MCP_HTTP_MAX_BODY_BYTES", "10"),
    ],
)
def test_a_bad_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_the_key_is_never_in_the_settings_repr(tmp_path: Path) -> None:
    assert "s3cret" not in repr(Settings.from_env({"MCP_API_KEY": "s3cret"}))
    keyfile = tmp_path / "key"
    keyfile.write_text("from-file\nignored\n")
    assert Settings.from_env({"MEMHUB_API_KEY_FILE": str(keyfile)}).api_key == "from-file"
    assert (
        Settings.from_env({"MEMHUB_API_KEY_FILE": str(keyfile), "MCP_API_KEY": "env"}).api_key
        == "env"
    )
    with pytest.raises(ConfigError, match="MEMHUB_API_KEY_FILE"):
        Settings.from_env({"MEMHUB_API_KEY_FILE": str(tmp_path / "missing")})
