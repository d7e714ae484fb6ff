"""One subscriber process of a stress run: every event its daemon publishes, in a JSONL ledger.

``python -m memhub.stress.subscriber --db DB --ledger FILE [--name NAME]``

It subscribes, prints ``ready`` and records each event as it arrives (kind, hash, origin,
client, arrival time) with the number of its *session*: one subscription on one connection. When
the connection is lost (its daemon was killed) it reconnects through the runtime file, subscribes
again and starts a new session, so the integrity check can tell "missed while its daemon was
down" (between sessions, allowed) from "missed while subscribed" (never allowed). It ends, and
records why each session ended, when its stdin closes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import IO

import trio

from memhub.config import resolve_store
from memhub.discovery import read_runtime_file, serving_paths
from memhub.errors import ServiceError
from memhub.protocol import messages as m
from memhub.transport.client import open_daemon_client

RECONNECT_BUDGET_S = 180.0


class Ledger:
    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle
        self.session = 0

    def event(self, event: m.Event) -> None:
        self._write(
            {
                "session": self.session,
                "kind": event.kind,
                "hash": event.content_hash,
                "origin": event.origin,
                "client": event.client,
                "t": time.time(),
            }
        )

    def began(self) -> None:
        self.session += 1
        self._write({"session": self.session, "start": time.time()})

    def ended(self, why: str) -> None:
        self._write({"session": self.session, "end": why, "t": time.time()})

    def _write(self, record: dict[str, object]) -> None:
        self._handle.write(json.dumps(record) + "\n")
        self._handle.flush()


async def follow(anchor: Path, name: str, ledger: Ledger, ready: trio.Event) -> None:
    """Subscribe, record, and subscribe again after every lost connection (until cancelled)."""
    deadline = trio.current_time() + RECONNECT_BUDGET_S
    while True:
        info = read_runtime_file(serving_paths(anchor).runtime)
        if info is None:
            if trio.current_time() > deadline:
                raise RuntimeError(f"no daemon for {anchor} within {RECONNECT_BUDGET_S:g} s")
            await trio.sleep(0.05)
            continue
        try:
            async with open_daemon_client(info.url, info.token, client_name=name) as client:
                events = await client.subscribe()
                ledger.began()  # after the daemon's Ok: every later commit must arrive
                ready.set()
                async for event in events:
                    ledger.event(event)
                why = "connection lost" if client.closed else "dropped by the daemon"
                ledger.ended(why)
        except (ServiceError, OSError):
            await trio.sleep(0.05)  # the daemon is restarting: its runtime file is stale
        deadline = trio.current_time() + RECONNECT_BUDGET_S


async def run(args: argparse.Namespace) -> None:
    anchor = resolve_store(explicit=args.db).db_path
    with Path(args.ledger).open("a", encoding="utf-8") as handle:  # noqa: ASYNC230
        ledger = Ledger(handle)
        ready = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(follow, anchor, args.name, ledger, ready)
            await ready.wait()
            print("ready", flush=True)
            # Until the orchestrator closes our stdin (after every event has arrived).
            await trio.to_thread.run_sync(sys.stdin.read)
            nursery.cancel_scope.cancel()
        ledger.ended("stopped")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="memhub.stress.subscriber")
    parser.add_argument("--db", required=True, help="database file or team store URL")
    parser.add_argument("--ledger", required=True)
    parser.add_argument("--name", default="stress-subscriber")
    trio.run(run, parser.parse_args(argv))


if __name__ == "__main__":
    main()
