"""MCP client sessions for the tests: the SDK's Streamable HTTP client against a daemon, and its
stdio client against ``memhub bridge``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
import mcp_types
from mcp import stdio_client
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.mcp_bridge.e2e import bridge_params


@asynccontextmanager
async def http_session(
    url: str, key: str | None, name: str = "memhub-http-test"
) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        async with streamable_http_client(f"{url}/mcp", http_client=http) as (read, write):
            info = mcp_types.Implementation(name=name, version="1.0")
            async with ClientSession(read, write, client_info=info) as session:
                await session.initialize()
                yield session


@asynccontextmanager
async def stdio_session(
    db: Path, name: str = "memhub-http-test", **env: str
) -> AsyncIterator[ClientSession]:
    params = bridge_params(db, db.parent / f"exit-{name}", **env)
    async with stdio_client(params) as (read, write):
        info = mcp_types.Implementation(name=name, version="1.0")
        async with ClientSession(read, write, client_info=info) as session:
            await session.initialize()
            yield session
