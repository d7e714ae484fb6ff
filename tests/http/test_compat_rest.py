"""The REST routes diffed against real mcp-memory-service 12.4.0's HTTP server: the same
requests (``rest_session.json``) against both, with the real embedding model on both sides; any
difference that ``allowed_differences.json`` does not list with its reason fails, and so does a
listed one that no longer occurs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.http import rest_compat
from tests.http.helpers import http_daemon
from tests.http.mms_http import mms_http_server

pytestmark = [pytest.mark.compat, pytest.mark.slow]

KEY = "compat-key-0123456789"


def test_rest_differs_from_12_4_exactly_as_documented(tmp_path: Path) -> None:
    ours_dir, theirs_dir = tmp_path / "memhub", tmp_path / "mms"
    ours_dir.mkdir()
    theirs_dir.mkdir()
    ours_home, theirs_home = ours_dir / "home", theirs_dir / "home"  # mms_http_server's
    for home in (ours_home, theirs_home):
        rest_compat.claude_project(home)
    env = {"MEMHUB_EMBEDDER": "model", "MCP_API_KEY": KEY, "HOME": str(ours_home)}
    with http_daemon(ours_dir / "sqlite_vec.db", env) as daemon:
        ours = rest_compat.run(daemon.url, KEY, ours_home)
    with mms_http_server(theirs_dir, KEY) as url:
        theirs = rest_compat.run(url, KEY, theirs_home)
    assert list(ours) == [s["id"] for s in rest_compat.steps()]
    problems = rest_compat.compare(ours, theirs)
    assert not problems, "\n\n".join(problems)
