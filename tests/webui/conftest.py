"""Fixtures for the web UI tests: one real daemon (started by ``memhub ui``) and Debian's Chromium.

The daemon is started the way a person starts it, by ``memhub ui --print-url`` (which spawns
``memhub serve`` as a bridge does), with the hash embedder so start-up takes a second. The
browser is Debian's ``/usr/bin/chromium`` driven by Playwright; ``scripts/dev test`` installs it.
Every page records console errors, page errors and dialogs: a test ends with none of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from memhub.config import runtime_paths
from tests.mcp_bridge.e2e import bridge_env, cleanup_daemons

from .helpers import CHROMIUM, CHROMIUM_ARGS, URL_RE, Daemon, Watched, ui_url


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    db = tmp_path_factory.mktemp("webui") / "memories.db"
    env = bridge_env(db)
    url = ui_url(db, env)
    info = json.loads(runtime_paths(db).runtime.read_text())
    match = URL_RE.match(url)
    assert match is not None
    assert int(match.group(1)) == info["port"]
    try:
        yield Daemon(db=db, port=info["port"], token=info["token"], env=env)
    finally:
        cleanup_daemons(db)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: run `apt-get install -y chromium` (scripts/dev test)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    result = Watched(page)

    def on_console(msg: Any) -> None:
        if msg.type in ("error", "warning"):
            result.errors.append(f"console {msg.type}: {msg.text}")

    def on_dialog(dialog: Any) -> None:
        result.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("console", on_console)
    page.on("pageerror", lambda exc: result.errors.append(f"page error: {exc}"))
    page.on("dialog", on_dialog)
    try:
        yield result
    finally:
        context.close()
