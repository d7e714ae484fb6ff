"""``memhub bridge``: the stdio MCP server a Claude app starts (the MMS drop-in)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import NoReturn

EXIT_OK = 0
EXIT_CONFIG = 2


def run_bridge(db: str | None) -> int:
    """Serve MCP on stdin/stdout for the database ``db`` (resolved like MMS) until EOF.

    Logging goes to stderr only; the level is ``MEMHUB_BRIDGE_LOG_LEVEL``, else MMS's
    ``LOG_LEVEL``, else WARNING. ``MEMHUB_BRIDGE_WARMUP=0`` turns off the background connect
    after start-up (the first tool call connects instead).

    Returns:
        2 for an unusable setting. After a normal end the process exits at once, with code 0.
    """
    level = (
        os.environ.get("MEMHUB_BRIDGE_LOG_LEVEL") or os.environ.get("LOG_LEVEL") or "WARNING"
    ).upper()
    logging.basicConfig(
        level=getattr(logging, level, logging.WARNING),
        format="%(asctime)s %(levelname)s memhub-bridge[%(process)d] %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    import trio

    from memhub.config import FALSE_WORDS, ConfigError
    from memhub.mcp_bridge.connection import LinkSettings
    from memhub.mcp_bridge.server import Bridge

    try:
        settings = LinkSettings.from_env(db)
    except ConfigError as exc:
        print(f"memhub bridge: {exc}", file=sys.stderr, flush=True)
        return EXIT_CONFIG
    warm_up = os.environ.get("MEMHUB_BRIDGE_WARMUP", "1").strip().lower() not in FALSE_WORDS
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(Bridge(settings, warm_up=warm_up).run)
    _exit_now(EXIT_OK)


def _exit_now(code: int) -> NoReturn:
    """End the process without the interpreter's finalization.

    The MCP client has closed our stdin and gives us a moment to exit (the SDK: 2 s) before it
    kills the process tree. Tearing down the SDK's, pydantic's and trio's modules takes ~0.4 s
    of CPU, and several bridges ending together on a busy machine (an app quitting) took over
    4 s; the bridge has nothing left to finalize: its answers are written, the daemon runs on.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
