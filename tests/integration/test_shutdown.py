"""SIGTERM to a real ``confsvc serve``: WebSockets closed with 1001 and the reason, the SSE
stream told and ended, exit code 0, and every acknowledged command in the store."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from confsvc.core.roles import Role, issue_invite
from confsvc.http.shutdown import GOING_AWAY, REASON
from tests.conftest import SAMPLE

CONFERENCE = "weifang-olsztyn-2020"
SECRET = b"shutdown-test-secret-shutdown-test-secret-0123"


class Server:
    def __init__(self, proc: subprocess.Popen[str], port: int, stderr: list[str]) -> None:
        self.proc = proc
        self.port = port
        self.stderr = stderr

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def token(self, role: Role) -> str:
        _, token = issue_invite(SECRET, conference=CONFERENCE, role=role, now=time.time())
        return token


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    secret = tmp_path / "confsvc.secret"
    secret.write_bytes(SECRET + b"\n")
    secret.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFSVC_")}
    argv = ["serve", "--agenda", str(SAMPLE), "--db", str(tmp_path / "confsvc.db")]
    argv += ["--secret-file", str(secret), "--port", "0"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "confsvc", *argv],
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert proc.stderr is not None
    lines: list[str] = []
    port = None
    deadline = time.monotonic() + 60
    while port is None and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"listening on 127\.0\.0\.1 port (\d+)", line)
        if found:
            port = int(found.group(1))
    if port is None:
        proc.kill()
        proc.wait()
        pytest.fail("confsvc serve did not start:\n" + "".join(lines))
    try:
        yield Server(proc, port, lines)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


async def _hello(session: aiohttp.ClientSession, base: str, token: str | None) -> Any:
    ws = await session.ws_connect(f"{base}/c/{CONFERENCE}/ws")
    await ws.send_json({"type": "hello", **({"token": token} if token else {})})
    msg = await ws.receive_json(timeout=10)
    assert msg["type"] == "welcome"
    return ws


async def _until_closed(ws: aiohttp.ClientWebSocketResponse) -> tuple[int | None, str]:
    async with asyncio.timeout(20):
        while True:
            msg = await ws.receive()
            if msg.type is aiohttp.WSMsgType.CLOSE:  # the server's close frame
                return msg.data, msg.extra or ""
            if msg.type is aiohttp.WSMsgType.CLOSED:
                return None, "closed without a close frame"
            if msg.type is aiohttp.WSMsgType.ERROR:
                return ws.close_code, f"error: {msg.data}"


async def test_sigterm_closes_websockets_with_1001_ends_sse_and_loses_no_ack(
    server: Server, tmp_path: Path
) -> None:
    async with aiohttp.ClientSession() as session:
        host = await _hello(session, server.base, server.token(Role.HOST))
        others = [
            await _hello(session, server.base, server.token(Role.MODERATOR)),
            await _hello(session, server.base, server.token(Role.PARTICIPANT)),
            await _hello(session, server.base, None),  # a public viewer
        ]
        sse = await session.get(f"{server.base}/c/{CONFERENCE}/live/events")
        assert sse.status == 200
        first = await sse.content.readuntil(b"\n\n")
        assert b'"type":"welcome"' in first

        # The host keeps commanding while the server stops: every ack it got must be
        # in the store afterwards; a command refused while draining says why.
        acked: list[int] = []
        refused: list[dict[str, Any]] = []
        await host.send_json({"type": "command", "id": 0, "name": "ros.start"})
        n = 0
        sigterm_at_ack = 5
        close_code: int | None = None
        close_reason = ""
        async with asyncio.timeout(30):
            while True:
                msg = await host.receive()
                if msg.type is aiohttp.WSMsgType.CLOSE:  # the server's close frame
                    close_code, close_reason = msg.data, msg.extra or ""
                    break
                assert msg.type is not aiohttp.WSMsgType.CLOSED, "closed without a close frame"
                assert msg.type is aiohttp.WSMsgType.TEXT, msg
                body = json.loads(msg.data)
                if body["type"] == "ack":
                    acked.append(body["seq"])
                elif body["type"] == "error":
                    refused.append(body)
                else:
                    continue
                if len(acked) == sigterm_at_ack:
                    server.proc.send_signal(signal.SIGTERM)
                await asyncio.sleep(0.06)  # under the per-socket rate limit
                n += 1
                with_id = {"type": "command", "id": n, "name": "ros.extend"}
                try:
                    await host.send_json({**with_id, "args": {"minutes": 0.01}})
                except ConnectionError:
                    pass

        assert (close_code, close_reason) == (GOING_AWAY, REASON)
        for ws in others:
            assert await _until_closed(ws) == (GOING_AWAY, REASON)
        # The SSE stream says the server restarts, then ends.
        rest = await asyncio.wait_for(sse.content.read(), 20)
        events = [
            json.loads(line[len(b"data: ") :])
            for line in rest.split(b"\n")
            if line.startswith(b"data: ")
        ]
        assert events[-1] == {"type": "restarting", "reason": REASON}
        assert sse.content.at_eof()

    assert server.proc.wait(timeout=20) == 0
    assert server.proc.stderr is not None
    tail = server.proc.stderr.read()
    assert "Traceback" not in tail
    assert re.search(r"shutdown: 4 WebSocket\(s\) closed with 1001", tail), tail
    assert len(acked) >= sigterm_at_ack
    assert all(e["code"] == "unavailable" for e in refused), refused

    con = sqlite3.connect(tmp_path / "confsvc.db")
    try:
        stored = dict(
            con.execute("SELECT seq, type FROM events WHERE conference = ?", (CONFERENCE,))
        )
    finally:
        con.close()
    missing = [seq for seq in acked if seq not in stored]
    assert missing == []
    assert {stored[seq] for seq in acked[1:]} == {"ros.extended"}
