"""Serving the endpoint: hypercorn's trio worker inside the daemon's nursery.

The SDK's session manager runs in the same task tree (entered here, not in an ASGI lifespan,
so the daemon owns its lifetime); the listener closes when the daemon's ``edge`` nursery is
cancelled, like the websocket listener.

Connections are cheap for the daemon: hypercorn closes one that is idle for
:data:`KEEP_ALIVE_S` (also before its first request), and the guard cuts a body that takes
longer than its deadline, so hundreds of idle or slow sockets cost a task each and never hold
up a client that talks.
"""

from __future__ import annotations

import errno
import logging
from typing import TYPE_CHECKING, Final

import attrs
import trio

from memhub.errors import StartupError

if TYPE_CHECKING:
    from memhub.config import Settings
    from memhub.http.local import SessionCallers
    from memhub.service import MemoryService

log = logging.getLogger(__name__)

KEEP_ALIVE_S: Final = 5.0
GRACEFUL_S: Final = 1.0
SWEEP_S: Final = 60.0


@attrs.frozen
class HttpListening:
    """Reported through ``task_status`` once the endpoint accepts requests."""

    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


async def serve_http(
    service: MemoryService,
    settings: Settings,
    *,
    task_status: trio.TaskStatus[HttpListening] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve REST and ``/mcp`` on ``MCP_HTTP_HOST:MCP_HTTP_PORT`` until cancelled.

    Raises:
        StartupError: the port is taken (naming the process holding it when the OS says).
    """
    from hypercorn.config import Config
    from hypercorn.trio.run import worker_serve
    from hypercorn.utils import wrap_app

    from memhub.http.app import build_app, rest_app
    from memhub.http.auth import AuthPolicy
    from memhub.http.local import SessionCallers
    from memhub.http.mcp_endpoint import SESSION_IDLE_S, McpEndpoint, session_manager

    auth = AuthPolicy(
        settings.api_key,
        allow_anonymous=settings.allow_anonymous,
        anonymous_scope=settings.anonymous_scope,
    )
    callers = SessionCallers(service, idle_s=SESSION_IDLE_S)
    own = ["127.0.0.1", "localhost", "[::1]"]
    manager = session_manager(
        callers,
        hosts=frozenset(f"{h}:*" for h in own),
        origins=frozenset(f"http://{h}:*" for h in own) | frozenset(settings.allow_origin),
        max_body=settings.http_max_body_bytes,
    )
    app = build_app(
        rest_app(service, auth),
        McpEndpoint(manager, callers, auth),
        bind_host=settings.http_host,
        extra_origins=settings.allow_origin,
        max_body=settings.http_max_body_bytes,
        body_deadline_s=settings.http_body_timeout_s,
    )
    config = Config()
    host = settings.http_host
    config.bind = [
        f"[{host}]:{settings.http_port}" if ":" in host else f"{host}:{settings.http_port}"
    ]
    config.accesslog = None  # an access log would hold URLs, and a URL may hold a key
    config.errorlog = logging.getLogger("memhub.http.hypercorn")
    config.keep_alive_timeout = KEEP_ALIVE_S
    config.graceful_timeout = GRACEFUL_S
    config.include_server_header = False
    if not auth.has_key and not auth.allow_anonymous:
        log.warning(
            "HTTP endpoint: neither MCP_API_KEY nor MCP_ALLOW_ANONYMOUS_ACCESS is set: every "
            "request except /api/health is refused with 401"
        )
    try:
        # Bound here, before any task starts: a taken port is one clear StartupError, not an
        # OSError inside an exception group (hypercorn's public serve() binds inside its task).
        sockets = config.create_sockets()
        for sock in sockets.insecure_sockets:
            sock.listen(config.backlog)
    except OSError as exc:
        raise _bind_failure(exc, host, settings.http_port) from None
    port = int(sockets.insecure_sockets[0].getsockname()[1])
    try:
        async with manager.run(), trio.open_nursery() as nursery:
            await nursery.start(
                lambda task_status: worker_serve(
                    wrap_app(app, config.wsgi_max_body_size, "asgi"),  # type: ignore[arg-type]
                    config,
                    sockets=sockets,
                    task_status=task_status,
                )
            )
            nursery.start_soon(_sweep, callers)
            listening = HttpListening(host=host, port=port)
            log.info(
                "HTTP endpoint on %s (REST /api/*, MCP /mcp; auth: %s)",
                listening.url,
                "API key" if auth.has_key else "anonymous" if auth.allow_anonymous else "none set",
            )
            task_status.started(listening)
    finally:
        callers.close_all()
        for sock in sockets.insecure_sockets:
            sock.close()


async def _sweep(callers: SessionCallers) -> None:
    """Close the callers of sessions the SDK has reaped (it says nothing when it does)."""
    while True:
        await trio.sleep(SWEEP_S)
        callers.sweep()


def _bind_failure(exc: OSError, host: str, port: int) -> StartupError:
    if exc.errno != errno.EADDRINUSE:
        return StartupError(f"cannot listen on {host}:{port} for HTTP (MCP_HTTP_HOST/PORT): {exc}")
    holder = port_holder(port)
    who = f" by {holder}" if holder else " by another process"
    return StartupError(
        f"MCP_HTTP_PORT {port} on {host} is already in use{who}: stop it, or set MCP_HTTP_PORT "
        "to a free port (and point your hooks at it with `memhub install claude-hooks`)"
    )


def port_holder(port: int) -> str | None:
    """``pid 1234 (python3 -m mcp_memory_service …)`` listening on ``port``, if the OS tells."""
    import psutil

    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            if conn.pid is None:
                return None
            try:
                command = " ".join(psutil.Process(conn.pid).cmdline())[:120]
            except (psutil.Error, OSError):
                command = ""
            return f"pid {conn.pid} ({command})" if command else f"pid {conn.pid}"
    return None
