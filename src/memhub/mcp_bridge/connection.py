"""The bridge's link to the daemon: find it, start it, keep it, and retry what is safe.

Discovery (:mod:`memhub.discovery`, passed in as a seam) uses only the files beside the
database and the per-user lock on the file's identity:

* ``<db>.memhub.json``, the runtime file, names the daemon's pid, port and token. The daemon
  writes it once it is ready, so a file can be stale (left by a daemon that died) but never
  early. It is trusted only if its pid is alive and a connection with its token succeeds.
* ``<db>.memhub.lock`` is flocked by the live daemon from its first instant. Not held means no
  daemon at all, so the bridge starts one.

Starting is a race on purpose: every bridge that finds the lock free spawns
``python -m memhub serve --db <db>`` detached (its own session, no stdin/stdout, stderr to the
log), and the daemons' flock picks one winner; the others exit with code 3 within a second.
Eight bridges started in the same second therefore end on one daemon, and a daemon outlives
the bridge (and the app) that started it. The bridge then polls the runtime file with backoff
until a daemon answers, a spawned daemon fails for real (its own non-zero exit but 3: its log
tail becomes the error; a child killed by a signal is a crash and is started again), or the
start timeout passes.

Retries. A lost connection (daemon killed, restarted, shutting down) drops the link, and the
request is sent again on a new one, up to :data:`MAX_ATTEMPTS` times. That is safe for every
request the bridge sends: reads trivially; an update with explicit values and a delete by hash
are idempotent; a store is idempotent by content hash, and a session by the session id the
bridge chose. A retried write can fail *because* its first attempt succeeded, so each
:class:`~memhub.mcp_bridge.calls.Delivery` says whether an earlier attempt may have run
(``ambiguous``), and the link itself turns a retried store's or session's echo of its own first
attempt (``duplicate``) back into the success it was (:mod:`memhub.mcp_bridge.lost_acks`).
A request that times out is not retried: the daemon is wedged, not gone, and piling the same
write onto it again would not help.

The bridge never opens the database. When no daemon can be reached, calls fail with a message
naming the database, the log file and the command that shows why.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs
import trio

from memhub import PROTOCOL_VERSION
from memhub.config import StoreRef, env_float, resolve_store
from memhub.discovery import (
    EXIT_LOCK_TAKEN,
    RETIRE_WAIT_S,
    Child,
    Discovery,
    LinkClient,
    LocalDiscovery,
    RuntimeInfo,
    crashed,
    log_tail,
    serves,
)
from memhub.errors import (
    ProtocolMismatch,
    QueryTimeout,
    ServiceError,
    ShuttingDown,
    Unauthorized,
    Unavailable,
)
from memhub.mcp_bridge.calls import BridgeStats, Delivery
from memhub.mcp_bridge.lost_acks import settle

if TYPE_CHECKING:
    from collections.abc import Mapping

    from memhub.protocol import messages as m

log = logging.getLogger(__name__)

MAX_ATTEMPTS: Final = 3
CONNECT_TIMEOUT_S: Final = 5.0


@attrs.frozen(kw_only=True)
class LinkSettings:
    """Where the daemon is and how long to wait for it."""

    db_path: Path
    client_name: str = "memhub-bridge"
    #: The team store's URL when the store is PostgreSQL (``db_path`` then names its daemon's
    #: files in the state directory), and how its daemon names it.
    database_url: str | None = None
    location: str = ""
    start_timeout_s: float = 90.0
    call_timeout_s: float = 60.0
    spawn: bool = True

    @classmethod
    def from_env(
        cls, db: str | None, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> LinkSettings:
        """Resolve the database exactly like ``memhub serve`` and read the bridge's timeouts.

        ``MEMHUB_BRIDGE_START_TIMEOUT`` (default 90 s) bounds the wait for a daemon to come up;
        ``MEMHUB_BRIDGE_CALL_TIMEOUT`` (default 60 s) bounds each request.
        """
        env = os.environ if environ is None else environ
        store = resolve_store(env, db)
        values: dict[str, Any] = {
            "db_path": store.db_path,
            "database_url": store.url,
            "location": store.location,
            "start_timeout_s": env_float(env, "MEMHUB_BRIDGE_START_TIMEOUT", 90.0, minimum=1.0),
            "call_timeout_s": env_float(env, "MEMHUB_BRIDGE_CALL_TIMEOUT", 60.0, minimum=0.1),
        }
        values.update(overrides)
        return cls(**values)


def _older_daemon(exc: ProtocolMismatch) -> bool:
    """Whether a refused hello came from a daemon of an older protocol than ours."""
    server = (exc.detail or {}).get("server_protocol")
    return type(server) is int and server < PROTOCOL_VERSION


class DaemonLink:
    """One bridge's link to the daemon of one database.

    Tool calls share one websocket client, held open by a task in ``nursery``; the first call
    (or :meth:`warm_up`) connects, starting the daemon if none runs. Closing the nursery closes
    the link; the daemon keeps running.
    """

    def __init__(
        self, settings: LinkSettings, nursery: trio.Nursery, discovery: Discovery | None = None
    ) -> None:
        self.settings = settings
        self._os: Discovery = LocalDiscovery() if discovery is None else discovery
        self.paths = self._os.paths(settings.db_path)
        self._nursery = nursery
        self._client: LinkClient | None = None
        self._scope: trio.CancelScope | None = None
        self._generation = 0
        self._connect_lock = trio.Lock()
        # Daemons we spawned while connecting (a failure there is a start-up failure), and
        # the ones from earlier connects (their later death is not: we just reap them).
        self._starting: list[Child] = []
        self._spawned: list[Child] = []
        self._last_spawn = -1e9
        self._calls = 0
        self._connect_times_ms: list[float] = []
        self._client_name = settings.client_name

    # -- public -----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether a daemon connection is open right now."""
        return self._client is not None

    async def call(self, request: m.Request) -> Delivery:
        """Send one request and wait for its reply, reconnecting and retrying when safe.

        Never raises :class:`~memhub.errors.ServiceError`: failures come back in the
        :class:`Delivery`, so that the caller can weigh them against ``ambiguous``. A retried
        store or session that failed only because its first attempt had committed comes back
        as that success (see :mod:`memhub.mcp_bridge.lost_acks`).
        """
        self._calls += 1
        return await settle(self._deliver, request, await self._deliver(request))

    async def _deliver(self, request: m.Request) -> Delivery:
        sent_at = time.time()
        ambiguous = False
        lost: Exception | None = None
        for _ in range(MAX_ATTEMPTS):
            try:
                client, generation = await self._connected()
            except ServiceError as exc:
                return Delivery(error=exc, ambiguous=ambiguous, sent_at=sent_at)
            try:
                with trio.fail_after(self.settings.call_timeout_s):
                    reply = await client.call(request)
            except ShuttingDown as exc:
                # The daemon refused it while draining: not executed, safe to send again.
                self._drop(generation)
                lost = exc
                await trio.sleep(0.2)
            except ServiceError as exc:
                if not isinstance(exc, Unavailable):
                    return Delivery(error=exc, ambiguous=ambiguous, sent_at=sent_at)
                self._drop(generation)
                ambiguous, lost = True, exc
            except trio.TooSlowError:
                self._drop(generation)
                return Delivery(error=self._timeout_error(), ambiguous=True, sent_at=sent_at)
            except Exception as exc:
                # Whatever else the transport raises on a dying socket means the same thing.
                log.warning("daemon connection failed: %r", exc)
                self._drop(generation)
                ambiguous, lost = True, exc
            else:
                return Delivery(reply=reply, ambiguous=ambiguous, sent_at=sent_at)
        error = self.unreachable(f"the connection kept failing ({lost})")
        return Delivery(error=error, ambiguous=ambiguous, sent_at=sent_at)

    async def warm_up(self) -> None:
        """Connect now (starting the daemon if needed) so the first tool call is fast."""
        try:
            await self._connected()
        except ServiceError as exc:
            log.warning("%s", exc.message)

    def adopt_client_name(self, name: str) -> None:
        """Name this link after the MCP client it serves (``claude-code``, ``Claude Desktop``).

        The daemon shows the name in its client list and in every change event this link
        causes. A link that connected earlier under another name (the warm-up runs before the
        client's ``initialize``) reconnects under the new one at its next call.
        """
        name = "".join(ch for ch in name if ch.isprintable()).strip()[:64]
        if name and name != self._client_name:
            self._client_name = name
            self._drop(self._generation)

    def statistics(self) -> BridgeStats:
        """Counters for ``memory_stats``."""
        return BridgeStats(
            tool_calls=self._calls,
            connects=len(self._connect_times_ms),
            connect_times_ms=tuple(self._connect_times_ms),
        )

    def close(self) -> None:
        """Drop the connection (the daemon keeps running) and reap exited children."""
        self._drop(self._generation)
        self._reap()

    def unreachable(self, reason: str) -> Unavailable:
        """The actionable error for "no daemon": the database, the log, and the fix."""
        db, logfile = self.settings.db_path, self.paths.log
        tail = log_tail(logfile, 1)
        last = f" Its last line: {tail}" if tail else ""
        return Unavailable(
            f"memhub could not reach the daemon for the database {db}: {reason}. "
            f"Daemon log: {logfile}.{last} To see why, run `memhub serve --db {db}` in a "
            f"terminal, or `memhub doctor --db {db}`."
        )

    # -- connecting -------------------------------------------------------------------------

    async def _connected(self) -> tuple[LinkClient, int]:
        if self._client is not None:
            return self._client, self._generation
        async with self._connect_lock:
            client = self._client
            if client is None:
                client = await self._establish()
            return client, self._generation

    async def _establish(self) -> LinkClient:
        """Attach to the running daemon, or start one and wait for it."""
        began = trio.current_time()
        deadline = began + self.settings.start_timeout_s
        delay = 0.05
        reason = "no daemon is running and none could be started"
        while True:
            # Re-resolved on every round: a daemon may meanwhile serve this file by another name.
            self.paths = self._os.paths(self.settings.db_path)
            info = self._os.read_runtime(self.paths.runtime)
            if info is not None and self._os.pid_alive(info.pid):
                try:
                    client = await self._open(info)
                except ProtocolMismatch as exc:
                    if not _older_daemon(exc):
                        raise self.unreachable(
                            f"{exc.message}; this memhub is older than the daemon: restart the "
                            "app so that it runs the upgraded memhub"
                        ) from None
                    await self._replace_older_daemon(info, exc)
                    reason = "an older daemon was replaced"
                    continue
                except Unauthorized:
                    reason = "the runtime file's token was refused (stale file)"
                except Exception as exc:
                    reason = f"the daemon (pid {info.pid}, port {info.port}) did not answer: {exc}"
                else:
                    self._connect_times_ms.append((trio.current_time() - began) * 1000)
                    self._settle_children()
                    return client
            elif info is not None:
                reason = f"the runtime file names pid {info.pid}, which is not running"
            self._reap()
            if not self._os.lock_held(self.paths.lock):
                self._maybe_spawn()
            elif info is None or not self._os.pid_alive(info.pid):
                reason = "a daemon holds the lock but is not ready yet"
            failed = self._failed_child()
            if failed is not None:
                raise self.unreachable(failed)
            if trio.current_time() >= deadline:
                raise self.unreachable(
                    f"{reason} (gave up after {self.settings.start_timeout_s:g} s)"
                )
            await trio.sleep(min(delay, max(0.0, deadline - trio.current_time())))
            delay = min(delay * 1.5, 1.0)

    async def _replace_older_daemon(self, info: RuntimeInfo, exc: ProtocolMismatch) -> None:
        """Hand over from a daemon of an older memhub (an upgrade while apps stay open).

        The old daemon is stopped the way ``memhub stop`` stops it: it commits every queued
        write and answers its clients before it exits, so nothing acknowledged is lost and
        nothing queued is dropped. Its other clients reconnect to the daemon started next,
        which still speaks their (older) protocol.
        """
        log.warning(
            "the daemon (pid %s) runs an older memhub (%s): stopping it to start this one",
            info.pid,
            exc.message,
        )
        if not await self._os.retire(self.store):
            raise self.unreachable(
                f"an older memhub daemon (pid {info.pid}) did not stop within "
                f"{RETIRE_WAIT_S:g} s; stop it with `memhub stop --db {self.store.argument}`"
            )

    async def _open(self, info: RuntimeInfo) -> LinkClient:
        """Connect to the daemon ``info`` describes, held open by a task of our nursery."""
        held: tuple[LinkClient, trio.CancelScope]
        with trio.fail_after(CONNECT_TIMEOUT_S):
            held = await self._nursery.start(self._hold, info)
        client, scope = held
        served = client.welcome.store
        if not serves(client.welcome, self.store):
            # A recycled port now belongs to the daemon of another database.
            scope.cancel()
            raise Unavailable(f"port {info.port} serves {served}, not this database")
        self._generation += 1
        self._client, self._scope = client, scope
        log.info("connected to the memhub daemon (pid %s, port %s)", info.pid, info.port)
        return client

    @property
    def store(self) -> StoreRef:
        settings = self.settings
        return StoreRef(settings.db_path, settings.database_url, settings.location)

    async def _hold(
        self,
        info: RuntimeInfo,
        *,
        task_status: trio.TaskStatus[tuple[LinkClient, trio.CancelScope]] = (
            trio.TASK_STATUS_IGNORED
        ),
    ) -> None:
        started = False
        client: LinkClient | None = None
        try:
            async with self._os.connect(info, self._client_name) as client:
                with trio.CancelScope() as scope:
                    task_status.started((client, scope))
                    started = True
                    await trio.sleep_forever()
        except Exception as exc:
            if not started:
                raise
            # The connection died under us; the next call notices and reconnects.
            log.info("daemon connection closed: %r", exc)
        finally:
            if started and self._client is client:
                self._client = None

    def _drop(self, generation: int) -> None:
        if generation == self._generation and self._client is not None:
            self._client = None
            if self._scope is not None:
                self._scope.cancel()

    # -- starting the daemon ----------------------------------------------------------------

    def _maybe_spawn(self) -> None:
        if not self.settings.spawn:
            return
        if any(child.poll() is None for child in self._starting):
            return  # ours is still starting (or lost the lock race and is about to exit)
        if time.monotonic() - self._last_spawn < 1.0:
            return
        self._last_spawn = time.monotonic()
        log.info("starting the memhub daemon for %s", self.settings.db_path)
        try:
            self._starting.append(self._os.spawn(self.store.argument, self.paths.log))
        except OSError as exc:
            raise self.unreachable(f"cannot start `memhub serve`: {exc}") from None

    def _failed_child(self) -> str | None:
        """Why a daemon we just spawned failed for good, if it did.

        Losing the lock race (exit 3) is no failure, and neither is a crash: a daemon killed
        by a signal while starting (``kill -9``, the OOM killer) is started again on the next
        round. Only the daemon's own non-zero exits are final, and its log says why.
        """
        for child in list(self._starting):
            code = child.poll()
            if code is not None and crashed(code):
                log.warning("the daemon we started was killed (%s); starting another", code)
                self._starting.remove(child)
                self._last_spawn = -1e9
            elif code is not None and code not in (0, EXIT_LOCK_TAKEN):
                self._starting.remove(child)
                tail = log_tail(self.paths.log)
                return f"`memhub serve` exited with code {code}" + (
                    f"; its log ends with:\n{tail}\n" if tail else ""
                )
        return None

    def _settle_children(self) -> None:
        """After a connect: what we spawned is now either serving or gone; reap the gone."""
        self._spawned.extend(self._starting)
        self._starting = []
        self._reap()

    def _reap(self) -> None:
        """Collect exited children so none lingers as a zombie (``poll()`` reaps).

        A running child is simply kept: it outlives us if it must, and init adopts it.
        """
        self._spawned = [child for child in self._spawned if child.poll() is None]
        self._starting = [
            child
            for child in self._starting
            if (code := child.poll()) is None
            or (code not in (0, EXIT_LOCK_TAKEN) and not crashed(code))
        ]

    def _timeout_error(self) -> QueryTimeout:
        return QueryTimeout(
            f"the memhub daemon did not answer within {self.settings.call_timeout_s:g} s "
            f"(database {self.settings.db_path}; daemon log {self.paths.log})"
        )
