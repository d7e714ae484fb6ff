"""Fixtures of the transport tests; the toy backend and helpers live in
:mod:`tests.transport.helpers`."""

from __future__ import annotations

import pytest
import trio

from memhub.transport.server import ApiServer

from .helpers import ToyBackend, start_server


@pytest.fixture
def backend() -> ToyBackend:
    return ToyBackend()


@pytest.fixture
async def server(nursery: trio.Nursery, backend: ToyBackend) -> ApiServer:
    return await start_server(nursery, backend)
