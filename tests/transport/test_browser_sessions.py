"""Browser sessions end, idle or old, and take their connections with them (hardening item 5).

Real sockets against the toy backend, with session lifetimes of a second or so instead of 30
minutes and 12 hours; the rules themselves are the daemon's defaults.
"""

from __future__ import annotations

import contextlib

import orjson
import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from memhub.credentials import SESSION_IDLE_S, SESSION_LIFETIME_S, Credentials

from .helpers import TOKEN, ask, hello, start_server, url


def test_the_defaults_are_half_an_hour_idle_and_half_a_day_in_all() -> None:
    assert SESSION_IDLE_S == 30 * 60
    assert SESSION_LIFETIME_S == 12 * 3600


async def redeem(ws: WebSocketConnection, credentials: Credentials) -> str:
    welcome = await ask(ws, hello(token=credentials.issue_ticket()))
    assert welcome["type"] == "welcome"
    session: str = welcome["session_token"]
    return session


async def the_end(ws: WebSocketConnection) -> tuple[dict[str, object], int]:
    """The notice the daemon sends when the session ends, and the close code after it."""
    notice = orjson.loads(await ws.get_message())
    with pytest.raises(ConnectionClosed) as closed:
        await ws.get_message()
    assert closed.value.reason is not None
    return notice, closed.value.reason.code


async def test_an_idle_session_ends_its_connection_and_its_token(nursery, backend):
    credentials = Credentials(TOKEN, session_idle_s=0.5, session_lifetime_s=60)
    server = await start_server(nursery, backend, credentials=credentials)
    with trio.fail_after(10):
        async with open_websocket_url(url(server)) as ws:
            session = await redeem(ws, credentials)
            notice, code = await the_end(ws)  # nothing sent: idle
        assert notice["type"] == "error"
        assert notice["id"] is None
        assert notice["code"] == "unauthorized"
        assert "it was not used for" in str(notice["message"])
        assert "run `memhub ui` again" in str(notice["message"])
        assert code == 4401
        async with open_websocket_url(url(server)) as again:
            refused = await ask(again, hello(token=session))
        assert refused["code"] == "unauthorized"
        assert "this browser session has ended" in refused["message"]


async def test_a_session_in_use_still_ends_at_its_lifetime(nursery, backend):
    credentials = Credentials(TOKEN, session_idle_s=0.5, session_lifetime_s=1.5)
    server = await start_server(nursery, backend, credentials=credentials)
    with trio.fail_after(10):
        async with open_websocket_url(url(server)) as ws:
            began = trio.current_time()
            await redeem(ws, credentials)
            answered = 0
            while True:
                # A request every 0.1 s keeps the idle limit away, not the lifetime.
                with contextlib.suppress(ConnectionClosed):  # the end came while we slept
                    await ws.send_message(orjson.dumps({"type": "health", "id": 1}).decode())
                reply = orjson.loads(await ws.get_message())
                if reply["id"] is None:
                    break
                answered += 1
                await trio.sleep(0.1)
            ended_after = trio.current_time() - began
            assert reply["code"] == "unauthorized"
            assert "browser sessions last at most" in reply["message"]
            with pytest.raises(ConnectionClosed) as closed:
                await ws.get_message()
            assert closed.value.reason is not None
            assert closed.value.reason.code == 4401
    assert ended_after >= 1.5  # not at 0.5 s: the requests kept it from going idle
    assert answered >= 5


async def test_a_browser_session_cannot_stop_the_daemon(nursery, backend):
    credentials = Credentials(TOKEN)
    server = await start_server(nursery, backend, credentials=credentials)
    with trio.fail_after(10):
        async with open_websocket_url(url(server)) as ws:
            await redeem(ws, credentials)
            refused = await ask(ws, {"type": "shutdown", "id": 3})
            assert refused["code"] == "unauthorized"
            assert "memhub stop" in refused["message"]
        assert not backend.shutdown_requested
        async with open_websocket_url(url(server)) as ws:
            assert (await ask(ws, hello()))["type"] == "welcome"
            assert await ask(ws, {"type": "shutdown", "id": 4}) == {"type": "ok", "id": 4}
        assert backend.shutdown_requested  # the token holder may
