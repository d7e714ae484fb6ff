"""A separate client process for the daemon tests: store texts and print one JSON line each.

Usage: python client_worker.py URL TOKEN N PREFIX   (PREFIX "same" stores one shared text)
"""

from __future__ import annotations

import json
import random
import sys

import trio

from memhub.errors import Duplicate, Unavailable
from memhub.protocol import messages as m
from memhub.transport.client import open_daemon_client

VOCABULARY = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
    "kafka",
    "redis",
    "postgres",
    "nginx",
    "docker",
    "terraform",
    "ansible",
    "grafana",
    "prometheus",
    "webpack",
    "vite",
    "react",
    "django",
    "flask",
    "pytest",
    "trio",
    "numpy",
    "pandas",
    "torch",
    "sqlite",
    "rust",
    "golang",
    "java",
    "kotlin",
    "swift",
    "ruby",
    "rails",
    "elixir",
]


async def main(url: str, token: str, n: int, prefix: str) -> None:
    async with open_daemon_client(url, token, client_name=f"worker-{prefix}") as client:

        async def one(i: int) -> None:
            if prefix == "same":
                text = "the one shared memory"
            else:
                # Distinct words per memory, so semantic dedup does not (rightly) merge them.
                words = random.Random(f"{prefix}-{i}").sample(VOCABULARY, 8)
                text = f"{prefix} note {i}: " + " ".join(words)
            try:
                reply = await client.call(m.Store(id=0, content=text, tags=[prefix]))
                assert isinstance(reply, m.Stored)
                print(json.dumps({"ok": True, "hash": reply.content_hash}), flush=True)
            except Duplicate as exc:
                print(
                    json.dumps({"ok": False, "duplicate": True, "message": exc.message}), flush=True
                )
            except Unavailable as exc:  # the daemon was killed (on purpose, in the crash test)
                print(json.dumps({"ok": False, "unavailable": exc.message}), flush=True)

        async with trio.open_nursery() as nursery:
            for i in range(n):
                nursery.start_soon(one, i)


async def run(url: str, token: str, n: int, prefix: str) -> None:
    """``main``; a daemon that is gone before we connect is a record too, not a crash, so the
    exit code is 0 whenever the worker did its job."""
    try:
        await main(url, token, n, prefix)
    except Unavailable as exc:
        print(json.dumps({"ok": False, "unavailable": exc.message}), flush=True)


if __name__ == "__main__":
    trio.run(run, sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
