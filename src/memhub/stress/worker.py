"""One stress client process: run a seeded workload, write a JSONL ledger of every op.

``python -m memhub.stress.worker --db DB --client K --seed S --ledger FILE [--duration D |
--ops N] [--rate R] [--via protocol|mcp] [--shared-rate F]``

``DB`` is a database file or a team store's URL; the daemon is found the way a bridge finds it
(for a URL: through ``MEMHUB_STATE_DIR``, so each "machine" of a team run gives its clients its
own).

The ledger is the ground truth the integrity check compares the database against. Ack
semantics: a store is recorded ``ok`` only when acknowledged. When the connection dies before
the ack (the daemon was killed), the store is retried; a retry answering *exact* duplicate for
the same hash proves the first attempt committed (the exact check runs before any other), so it
is recorded ``ok`` too, except for a shared text (another client may have stored it): that
stays ``duplicate``. Deletes and updates are idempotent and simply retried.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Protocol

import trio

from memhub.config import resolve_store
from memhub.discovery import read_runtime_file, serving_paths
from memhub.domain.hashing import content_hash
from memhub.errors import Duplicate, NotFound, ServiceError, Unavailable
from memhub.protocol import messages as m
from memhub.stress.workload import Op, Workload
from memhub.transport.client import DaemonClient, open_daemon_client

RECONNECT_BUDGET_S = 120.0
MAX_LOST = 30
OP_TIME_LIMIT_S = 90.0
_HASH = re.compile(r"\(hash: ([0-9a-f]{64})\)")


class Lost(Exception):
    """The daemon went away mid-call; the outcome of that attempt is unknown."""


class Driver(Protocol):
    async def store(self, text: str, tags: tuple[str, ...]) -> tuple[str, str]: ...
    async def search(self, query: str, tags: tuple[str, ...]) -> None: ...
    async def list(self, tags: tuple[str, ...]) -> None: ...
    async def update(self, content_hash: str, tags: tuple[str, ...]) -> str: ...
    async def delete(self, content_hash: str) -> str: ...


class ProtocolDriver:
    """The memhub protocol client, reconnecting through the runtime file.

    Each connection lives in its own task of the driver's nursery, and a lost or unanswering
    connection is closed before the next one is opened. (Entering every client on the worker's
    exit stack kept each lost connection open until the worker ended, one CLOSE-WAIT socket
    per daemon kill, and a connection on which a call had timed out was used again.)
    """

    def __init__(self, db: Path, name: str, nursery: trio.Nursery) -> None:
        self._db = db
        self._name = name
        self._nursery = nursery
        self._client: DaemonClient | None = None
        self._release: trio.Event | None = None

    @classmethod
    async def open(cls, db: Path, name: str, stack: AsyncExitStack) -> ProtocolDriver:
        """A driver whose connections are closed when ``stack`` closes."""
        driver = cls(db, name, await stack.enter_async_context(trio.open_nursery()))
        stack.callback(driver._drop)  # runs first: lets the nursery finish
        return driver

    async def _connected(self) -> DaemonClient:
        if self._client is not None and not self._client.closed:
            return self._client
        self._drop()
        deadline = trio.current_time() + RECONNECT_BUDGET_S
        while True:
            info = read_runtime_file(serving_paths(self._db).runtime)
            if info is not None:
                try:
                    self._client, self._release = await self._nursery.start(
                        self._hold, info.url, info.token
                    )
                    return self._client
                except (Unavailable, ServiceError, OSError):
                    pass
            if trio.current_time() > deadline:
                raise Unavailable(f"no daemon for {self._db} within {RECONNECT_BUDGET_S:g} s")
            await trio.sleep(0.1)

    async def _hold(
        self,
        address: str,
        token: str,
        task_status: trio.TaskStatus[tuple[DaemonClient, trio.Event]],
    ) -> None:
        release = trio.Event()
        async with open_daemon_client(address, token, client_name=self._name) as client:
            task_status.started((client, release))
            await release.wait()

    def _drop(self) -> None:
        """Close the current connection, if any (its task closes it, bounded)."""
        if self._release is not None:
            self._release.set()
        self._client = self._release = None

    async def _call(self, request: m.Request) -> m.Reply:
        client = await self._connected()
        try:
            with trio.move_on_after(OP_TIME_LIMIT_S):
                return await client.call(request)
        except Unavailable as exc:
            self._drop()
            raise Lost(str(exc)) from None
        self._drop()  # an unanswering connection is not reused
        raise Unavailable(f"no answer from the daemon within {OP_TIME_LIMIT_S:g} s")

    async def store(self, text: str, tags: tuple[str, ...]) -> tuple[str, str]:
        try:
            reply = await self._call(m.Store(id=0, content=text, tags=list(tags)))
        except Duplicate as exc:
            return "duplicate", str((exc.detail or {}).get("kind", ""))
        assert isinstance(reply, m.Stored)
        return "ok", reply.content_hash

    async def search(self, query: str, tags: tuple[str, ...]) -> None:
        await self._call(m.Search(id=0, query=query, tags=list(tags), limit=5))

    async def list(self, tags: tuple[str, ...]) -> None:
        await self._call(m.ListMemories(id=0, tags=list(tags), page_size=10))

    async def update(self, content_hash: str, tags: tuple[str, ...]) -> str:
        try:
            await self._call(m.Update(id=0, content_hash=content_hash, tags=list(tags)))
        except NotFound:
            return "not_found"
        return "ok"

    async def delete(self, content_hash: str) -> str:
        await self._call(m.Delete(id=0, content_hash=content_hash))
        return "ok"


class McpDriver:
    """A real ``memhub bridge`` driven over stdio by the MCP SDK client, as Claude does.

    The bridge reconnects and retries on its own, so a lost daemon shows up here only as
    latency; any tool error is recorded as an error.
    """

    def __init__(self, client: Any) -> None:
        self._client = client

    async def _text(self, tool: str, args: dict[str, Any]) -> tuple[bool, str]:
        result = await self._client.call_tool(tool, args)
        text = "".join(getattr(block, "text", "") for block in result.content)
        return bool(result.is_error), text

    async def store(self, text: str, tags: tuple[str, ...]) -> tuple[str, str]:
        failed, reply = await self._text(
            "memory_store", {"content": text, "metadata": {"tags": list(tags)}}
        )
        # A duplicate is an outcome, not an error (isError follows mcp-memory-service).
        if "Duplicate content detected" in reply:
            return "duplicate", "exact" if "exact match" in reply else "semantic"
        found = _HASH.search(reply)
        if failed or not found:
            raise ServiceError(reply)
        return "ok", found.group(1)

    async def search(self, query: str, tags: tuple[str, ...]) -> None:
        args: dict[str, Any] = {"query": query, "limit": 5}
        if tags:
            args["tags"] = list(tags)
        failed, reply = await self._text("memory_search", args)
        if failed:
            raise ServiceError(reply)

    async def list(self, tags: tuple[str, ...]) -> None:
        failed, reply = await self._text("memory_list", {"page_size": 10, "tags": list(tags)})
        if failed:
            raise ServiceError(reply)

    async def update(self, content_hash: str, tags: tuple[str, ...]) -> str:
        failed, reply = await self._text(
            "memory_update", {"content_hash": content_hash, "updates": {"tags": list(tags)}}
        )
        if "not found" in reply:
            return "not_found"
        if failed:
            raise ServiceError(reply)
        return "ok"

    async def delete(self, content_hash: str) -> str:
        failed, reply = await self._text("memory_delete", {"content_hash": content_hash})
        if failed and "not found" not in reply.lower():
            raise ServiceError(reply)
        return "ok"


async def perform(driver: Driver, workload: Workload, op: Op) -> dict[str, Any]:
    """Run one op with retries after a lost connection; return its ledger record.

    Bounded: after MAX_LOST lost connections, or a call unanswered for OP_TIME_LIMIT_S, the op
    is recorded as an error with the reason, so a stuck run fails visibly instead of hanging.
    """
    record: dict[str, Any] = {"op": op.kind, "client": workload.client}
    started = time.perf_counter()
    lost = await _attempt(driver, workload, op, record)
    record["attempts"] = lost + 1
    record["latency_s"] = time.perf_counter() - started
    record["t"] = time.time()
    return record


async def _attempt(driver: Driver, workload: Workload, op: Op, record: dict[str, Any]) -> int:
    lost = 0
    while True:
        try:
            if op.kind == "store":
                record["hash"] = content_hash(op.text)
                outcome, detail = await driver.store(op.text, op.tags)
                record["shared"] = op.shared
                if (
                    outcome == "duplicate"
                    and lost
                    and detail == "exact"
                    and not op.expect_duplicate
                    and not op.shared
                ):
                    outcome = "ok"  # the lost attempt committed: the retry hit its own row
                record["outcome"] = outcome
                record["dup_kind"] = detail if outcome == "duplicate" else None
            elif op.kind == "search":
                await driver.search(op.text, op.tags)
                record["outcome"] = "ok"
            elif op.kind == "list":
                await driver.list(op.tags)
                record["outcome"] = "ok"
            else:
                record["hash"] = content_hash(workload.stored_text(op.target))
                if op.kind == "update":
                    record["outcome"] = await driver.update(record["hash"], op.tags)
                else:
                    record["outcome"] = await driver.delete(record["hash"])
            return lost
        except Lost as exc:
            lost += 1
            print(
                f"client {workload.client}: connection lost ({exc}); retry {lost}",
                file=sys.stderr,
                flush=True,
            )
            if lost >= MAX_LOST:
                record["outcome"] = "error"
                record["error"] = f"Lost: connection lost {lost} times; last: {exc}"
                return lost
            await trio.sleep(min(0.05 * lost, 1.0))
        except ServiceError as exc:
            record["outcome"] = "error"
            record["error"] = f"{type(exc).__name__}: {exc}"
            return lost


async def run_worker(args: argparse.Namespace) -> None:
    workload = Workload(seed=args.seed, client=args.client, shared_rate=args.shared_rate)
    ledger = Path(args.ledger).open("a", encoding="utf-8")  # noqa: ASYNC230, SIM115
    async with AsyncExitStack() as stack:
        driver: Driver
        if args.via == "mcp":
            from mcp import Client, StdioServerParameters

            params = StdioServerParameters(
                command=sys.executable, args=["-m", "memhub", "bridge", "--db", str(args.db)]
            )
            driver = McpDriver(await stack.enter_async_context(Client(params, mode="legacy")))
        else:
            anchor = resolve_store(explicit=args.db).db_path
            driver = await ProtocolDriver.open(anchor, f"stress-{args.client}", stack)
        print("ready", flush=True)
        sys.stdin.readline()  # the orchestrator starts every client at once
        end = time.monotonic() + args.duration if args.duration else None
        # Open loop: Poisson arrivals at --rate from a random phase, so clients started
        # together do not fire in lock-step bursts (which would measure the harness, not us).
        arrivals = random.Random(f"arrivals:{args.seed}:{args.client}")
        next_at = time.monotonic()
        done = 0
        while (end is None or time.monotonic() < end) and (not args.ops or done < args.ops):
            if args.rate:
                next_at += arrivals.expovariate(args.rate)
                await trio.sleep(max(0.0, next_at - time.monotonic()))
            record = await perform(driver, workload, workload.next_op())
            ledger.write(json.dumps(record) + "\n")
            ledger.flush()
            done += 1
    ledger.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="memhub.stress.worker")
    parser.add_argument("--db", required=True, help="database file or team store URL")
    parser.add_argument("--client", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ledger", required=True)
    parser.add_argument("--duration", type=float, default=0.0)
    parser.add_argument("--ops", type=int, default=0)
    parser.add_argument("--rate", type=float, default=0.0, help="ops/s (open loop); 0: closed")
    parser.add_argument("--via", choices=("protocol", "mcp"), default="protocol")
    parser.add_argument("--shared-rate", type=float, default=0.0, help="stores of shared texts")
    trio.run(run_worker, parser.parse_args(argv))


if __name__ == "__main__":
    main()
