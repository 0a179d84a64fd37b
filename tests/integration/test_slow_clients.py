"""Slow clients (issue 11, item 9): a slowloris connection is cut off after the header
timeout; the N+1th idle anonymous connection from one address is refused. The server is
started the way ``confsvc serve`` starts it (make_runner + GuardedSite), on 127.0.0.1:0."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from confsvc.config import Config
from confsvc.http.app import create_app
from confsvc.http.server import CONNECTION_CAP, GuardedSite, make_runner
from tests.conftest import SAMPLE, SECRET


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    runners = []

    async def start(**overrides: Any) -> tuple[Any, int]:
        cfg = Config(
            db=str(tmp_path / "c.db"),
            agendas=[SAMPLE],
            secret_file=tmp_path / "s",
            ice_addresses=["127.0.0.1"],
            host="127.0.0.1",
            port=0,
            **overrides,
        )
        app = create_app(cfg, secret=SECRET)
        runner = make_runner(app, cfg)
        await runner.setup()
        runners.append(runner)
        site = GuardedSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        return app, port

    yield start
    for runner in runners:
        await runner.cleanup()


async def _closed(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(), timeout=10)


async def test_slowloris_is_cut_off_after_the_header_timeout(serve: Any) -> None:
    _, port = await serve(http_header_timeout_s=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    # Trickle a header a byte at a time, as a slowloris does, for at most 10 s.
    for _ in range(100):
        if reader.at_eof() or writer.is_closing():
            break
        writer.write(b"a")
        try:
            await writer.drain()
            await asyncio.wait_for(reader.read(1), timeout=0.1)
        except (TimeoutError, ConnectionError):
            continue
    # Cut off, with no response. Without a header timeout the server would hold it and
    # this read would time out instead.
    assert reader.at_eof() or await _closed(reader) == b""
    writer.close()


async def test_a_prompt_client_is_served_under_the_same_timeout(serve: Any) -> None:
    _, port = await serve(http_header_timeout_s=0.5)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
            assert resp.status == 200


async def test_the_n_plus_first_idle_anonymous_connection_is_refused(serve: Any) -> None:
    app, port = await serve(max_anonymous_connections_per_address=3)
    idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer = await _closed(reader)
    assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert answer.endswith(
        b"too many connections from your address without an invite token (at most 3)\n"
    )
    writer.close()
    assert app[CONNECTION_CAP].anonymous["127.0.0.1"] == 3
    # One of the three leaves: the next is let in.
    _, first = idle.pop()
    first.close()
    await first.wait_closed()
    for _ in range(100):
        if app[CONNECTION_CAP].anonymous["127.0.0.1"] == 2:
            break
        await asyncio.sleep(0.01)
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (await _closed(r)).startswith(b"HTTP/1.1 200 OK")
    w.close()
    for _, w in idle:
        w.close()


async def test_a_socket_with_a_valid_token_stops_counting(serve: Any) -> None:
    from confsvc.core.roles import Role, issue_invite

    app, port = await serve(max_anonymous_connections_per_address=2)
    _, token = issue_invite(
        SECRET, conference="weifang-olsztyn-2020", role=Role.PARTICIPANT, now=time.time()
    )
    async with aiohttp.ClientSession() as session:
        socks = []
        for _ in range(3):  # more than the cap, each with a valid token
            ws = await session.ws_connect(f"http://127.0.0.1:{port}/c/weifang-olsztyn-2020/ws")
            await ws.send_json({"type": "hello", "token": token})
            assert (await ws.receive_json(timeout=10))["type"] == "welcome"
            socks.append(ws)
        assert app[CONNECTION_CAP].anonymous["127.0.0.1"] == 0
        for ws in socks:
            await ws.close()


async def test_an_exempt_address_is_not_capped(serve: Any) -> None:
    _, port = await serve(
        max_anonymous_connections_per_address=1, connection_cap_exempt=["127.0.0.1"]
    )
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
    r, w = conns[-1]
    w.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (await _closed(r)).startswith(b"HTTP/1.1 200 OK")
    for _, w in conns:
        w.close()
