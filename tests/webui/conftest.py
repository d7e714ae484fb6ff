"""Fixtures for the web UI tests: one real daemon (started by ``memhub ui``) and Debian's Chromium.

The daemon is started the way a person starts it, by ``memhub ui --print-url`` (which spawns
``memhub serve`` as a bridge does), with the hash embedder so start-up takes a second. The
browser is Debian's ``/usr/bin/chromium`` driven by Playwright; ``scripts/dev test`` installs it.
Every page records console errors, page errors and dialogs: a test ends with none of them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from playwright.sync_api import Browser, Page, sync_playwright

from memhub.config import runtime_paths
from memhub.protocol import messages as m
from memhub.transport.client import open_daemon_client
from tests.mcp_bridge.e2e import bridge_env, cleanup_daemons

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
URL_RE = re.compile(r"^http://127\.0\.0\.1:(\d+)/#ticket=(ticket-[A-Za-z0-9_-]+)$")


@attrs.frozen
class Daemon:
    db: Path
    port: int
    token: str
    env: dict[str, str]

    def ui_url(self) -> str:
        """A fresh one-time link, from ``memhub ui --print-url`` as a person would get it."""
        return ui_url(self.db, self.env)

    def call(self, request: m.Request) -> m.Reply:
        """One request with the master token (the test's own view of the store)."""

        async def run() -> m.Reply:
            async with open_daemon_client(
                f"ws://127.0.0.1:{self.port}", self.token, client_name="webui-test"
            ) as client:
                return await client.call(request)

        return trio.run(run)


def ui_url(db: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "memhub", "ui", "--print-url", "--db", str(db)],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert URL_RE.match(url), url
    return url


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


@attrs.define
class Watched:
    """A page and everything it complained about."""

    page: Page
    errors: list[str] = attrs.field(factory=list)
    dialogs: list[str] = attrs.field(factory=list)

    def open(self, url: str) -> None:
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready=true]", timeout=15_000)


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


def no_complaints(watched: Watched) -> None:
    assert watched.errors == [], watched.errors
    assert watched.dialogs == [], watched.dialogs
