"""The stdio MCP server one Claude app talks to: MMS's surface, the daemon behind it.

The MCP surface itself (tools, resources, prompts) is :mod:`memhub.mcp_bridge.surface`, shared
with the daemon's HTTP endpoint; this module is the stdio carrier of it. It answers
``initialize``, ``tools/list`` and ``resources/list`` at once, without the daemon, and imports
nothing heavy: the first tool call connects (a background warm-up usually got there first).

Lifecycle: stdout carries only MCP (the SDK diverts fd 1 to stderr while serving, so a stray
print cannot corrupt the stream); logs go to stderr. Lines the SDK refuses are answered with
JSON-RPC errors by :mod:`~memhub.mcp_bridge.jsonrpc_guard`. The bridge ends on stdin EOF, on
SIGTERM, SIGHUP or SIGINT, and when its parent process goes away, so that a closed app leaves no
orphan. The daemon is not stopped: other apps may be using it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import TYPE_CHECKING, Any, Final

import trio

from memhub import __version__
from memhub.mcp_bridge import formatting, surface
from memhub.mcp_bridge.calls import ToolResult
from memhub.mcp_bridge.connection import DaemonLink, LinkSettings
from memhub.mcp_bridge.surface import SERVER_NAME

if TYPE_CHECKING:
    from mcp.server.context import ServerRequestContext
    from mcp.server.lowlevel import Server

log = logging.getLogger(__name__)

WARM_UP_DELAY_S: Final = 1.0
HEALTH_STARTING_WAIT_S: Final = 2.0
"""How long ``memory_health`` waits for a starting daemon before answering "starting".

mcp-memory-service's hook clients give a tool call 3 s; a cold daemon start (the model load)
can take longer, and a health probe must not time out just because the daemon is warming up."""
HEALTH_TOOLS: Final = frozenset({"memory_health", "check_database_health"})
EXIT_GRACE_S: Final = 2.0
PARENT_POLL_S: Final = 2.0
__all__ = ["SERVER_NAME", "Bridge"]


class Bridge:
    """One bridge process: the MCP server, its daemon link and its lifecycle watchers."""

    def __init__(self, settings: LinkSettings, *, warm_up: bool = True) -> None:
        self.settings = settings
        self.warm_up = warm_up
        self._link: DaemonLink | None = None
        self._nursery: trio.Nursery | None = None
        self._activity = trio.Event()

    @property
    def link(self) -> DaemonLink:
        assert self._link is not None, "the bridge is not running"
        return self._link

    async def run(self) -> None:
        """Serve MCP on stdin/stdout until EOF, a signal, or the parent's exit."""
        import anyio
        from mcp.server.stdio import stdio_server
        from mcp.shared.message import SessionMessage

        from memhub.mcp_bridge import jsonrpc_guard

        server = self.build_server()
        async with trio.open_nursery() as nursery:
            self._link = DaemonLink(self.settings, nursery)
            self._nursery = nursery
            nursery.start_soon(self._watch_signals, nursery.cancel_scope)
            nursery.start_soon(self._watch_parent, nursery.cancel_scope, os.getppid())
            if self.warm_up:
                nursery.start_soon(self._warm_up)
            try:
                stdin = jsonrpc_guard.RememberingStdin()
                async with stdio_server(stdin=anyio.wrap_file(stdin)) as (incoming, write_stream):
                    to_server, read_stream = anyio.create_memory_object_stream[
                        SessionMessage | Exception
                    ](0)
                    nursery.start_soon(
                        jsonrpc_guard.screen, incoming, to_server, write_stream, stdin
                    )
                    await server.run(
                        read_stream, write_stream, server.create_initialization_options()
                    )
                log.info("stdin closed: the MCP client is gone")
            finally:
                self.link.close()
                nursery.cancel_scope.cancel()

    def build_server(self) -> Server[Any]:
        """The low-level SDK server with MMS's tools, resources and prompts (one surface for
        stdio and HTTP: :mod:`memhub.mcp_bridge.surface`), backed by this bridge's link."""
        return surface.build_server(self)

    # -- surface.Backing ----------------------------------------------------------------------

    remote = False  # stdio: the user's own machine

    def daemon(self, ctx: ServerRequestContext[Any]) -> DaemonLink:
        self._activity.set()
        client = ctx.session.client_params
        if client is not None:
            self.link.adopt_client_name(client.client_info.name)
        return self.link

    def daemon_ready(self) -> bool:
        return self.link.connected

    async def early_answer(
        self, ctx: ServerRequestContext[Any], tool: str, arguments: dict[str, Any] | None
    ) -> ToolResult | None:
        if tool in HEALTH_TOOLS:
            return await self._health_while_starting()
        return None

    async def _health_while_starting(self) -> ToolResult | None:
        """A "starting" health answer if the daemon is not up within a moment, else None.

        The connect (and the daemon start it may trigger) runs in the bridge's nursery, not in
        this call, so answering early cancels nothing: the next call finds the daemon ready.
        A connect that fails within the wait returns None too, and the normal call reports it.
        """
        if self.link.connected or self._nursery is None:
            return None
        settled = trio.Event()

        async def connect() -> None:
            try:
                await self.link.warm_up()
            finally:
                settled.set()

        self._nursery.start_soon(connect)
        with trio.move_on_after(HEALTH_STARTING_WAIT_S):
            await settled.wait()
        if settled.is_set():
            return None
        return ToolResult(formatting.starting_health(__version__, str(self.settings.db_path)))

    # -- lifecycle --------------------------------------------------------------------------

    async def _warm_up(self) -> None:
        # Let initialize and tools/list go out first: connecting imports the websocket
        # client, which holds the GIL for a moment.
        with trio.move_on_after(WARM_UP_DELAY_S):
            await self._activity.wait()
        await trio.sleep(0.05)
        await self.link.warm_up()

    async def _watch_signals(self, scope: trio.CancelScope) -> None:
        wanted = [signal.SIGTERM, signal.SIGINT]
        if hasattr(signal, "SIGHUP"):
            wanted.append(signal.SIGHUP)
        with trio.open_signal_receiver(*wanted) as received:
            async for signum in received:
                log.info("got signal %s: exiting", signum)
                _exit_soon()
                scope.cancel()
                return

    async def _watch_parent(self, scope: trio.CancelScope, parent: int) -> None:
        # A client that dies without closing our stdin (it happens: the pipe may be shared)
        # re-parents us; exit then rather than linger as an orphan.
        while True:
            await trio.sleep(PARENT_POLL_S)
            if os.getppid() != parent:
                log.info("parent process %s is gone: exiting", parent)
                _exit_soon()
                scope.cancel()
                return


def _exit_soon() -> None:
    """Exit the process in a moment even if the stdin reader thread never returns.

    The SDK reads stdin in a worker thread that cancellation cannot interrupt; after a
    signal nothing may ever arrive on stdin again, so a timer ends the process.
    """
    timer = threading.Timer(EXIT_GRACE_S, os._exit, args=(0,))
    timer.daemon = True
    timer.start()
