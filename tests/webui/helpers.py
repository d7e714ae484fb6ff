"""Builders shared by the web UI tests: the daemon handle, the one-time link, the watched page."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import attrs
import trio
from playwright.sync_api import Page

from memhub.discovery import daemon_url
from memhub.protocol import messages as m
from memhub.transport.client import open_daemon_client

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
                daemon_url("127.0.0.1", self.port), self.token, client_name="webui-test"
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


@attrs.define
class Watched:
    """A page and everything it complained about."""

    page: Page
    errors: list[str] = attrs.field(factory=list)
    dialogs: list[str] = attrs.field(factory=list)

    def open(self, url: str) -> None:
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready=true]", timeout=15_000)


def no_complaints(watched: Watched) -> None:
    assert watched.errors == [], watched.errors
    assert watched.dialogs == [], watched.dialogs
