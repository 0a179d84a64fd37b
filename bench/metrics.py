"""``/metrics`` scrape time with 1,000 connections open (issue 10, goal: < 50 ms).

    .venv/bin/python bench/metrics.py [--ws 800] [--sse 200] [--scrapes 20]

One ``confsvc serve`` process (SQLite, the sample agenda, logs at warning). This process
raises its file-descriptor limit (the server inherits it), opens ``--ws`` conference
WebSockets (each with a participant invite of its own, so no per-link cap applies) and
``--sse`` public-page event streams on loopback, checks in one scrape that the server
counts them all, then times ``--scrapes`` scrapes one after another: request sent to
body read, on the client. The last line is one JSON object (milliseconds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from serving import start_server, wait_ready

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CONFERENCE = "weifang-olsztyn-2020"
BATCH = 50  # connections opened at once


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def open_ws(session: aiohttp.ClientSession, base: str, token: str) -> Any:
    ws = await session.ws_connect(f"{base}/c/{CONFERENCE}/ws", heartbeat=None)
    await ws.send_json({"type": "hello", "token": token})
    welcome = await ws.receive_json(timeout=30)
    if welcome.get("type") != "welcome":
        raise SystemExit(f"no welcome: {welcome}")
    # Keep reading, as a page does: aiohttp answers the server's heartbeat pings only
    # while the socket is read, and an unanswered one closes the connection.
    READERS.add(asyncio.ensure_future(_drain(ws)))
    return ws


READERS: set[asyncio.Future[None]] = set()


async def _drain(ws: Any) -> None:
    async for _msg in ws:
        pass


async def open_sse(session: aiohttp.ClientSession, base: str) -> Any:
    resp = await session.get(f"{base}/c/{CONFERENCE}/live/events")
    if resp.status != 200:
        raise SystemExit(f"SSE: HTTP {resp.status}")
    await resp.content.readuntil(b"\n\n")
    await resp.content.readuntil(b"\n\n")  # retry: line, then the welcome
    return resp


def counted(text: str, family: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(family + "{") or line.startswith(family + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from confsvc.core.roles import Role, issue_invite

    fd_limit = raise_fd_limit()
    need = 2 * (args.ws + args.sse) + 200
    if fd_limit < need:
        raise SystemExit(f"file descriptor limit {fd_limit} < {need}: raise the hard limit")
    with tempfile.TemporaryDirectory(prefix="confsvc-bench-metrics-") as d:
        tmp = Path(d)
        secret = secrets.token_urlsafe(48).encode()
        secret_file = tmp / "confsvc.secret"
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, secret)
        os.close(fd)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = start_server(tmp, port, secret_file)
        sockets: list[Any] = []
        try:
            connector = aiohttp.TCPConnector(limit=0, force_close=False)
            async with aiohttp.ClientSession(connector=connector) as session:
                await wait_ready(base, proc)
                now = time.time()
                tokens = [
                    issue_invite(secret, conference=CONFERENCE, role=Role.PARTICIPANT, now=now)[1]
                    for _ in range(args.ws)
                ]
                for i in range(0, len(tokens), BATCH):
                    batch = tokens[i : i + BATCH]
                    sockets += await asyncio.gather(*(open_ws(session, base, t) for t in batch))
                for i in range(0, args.sse, BATCH):
                    n = min(BATCH, args.sse - i)
                    sockets += await asyncio.gather(*(open_sse(session, base) for _ in range(n)))
                # Honest figures: the server sees every connection we think is open.
                async with session.get(f"{base}/metrics") as r:
                    text = await r.text()
                seen_ws = counted(text, "confsvc_ws_connections")
                seen_sse = counted(text, "confsvc_sse_readers")
                if (seen_ws, seen_sse) != (args.ws, args.sse):
                    raise SystemExit(f"the server counts {seen_ws} WebSockets, {seen_sse} SSE")
                times: list[float] = []
                size = 0
                for _ in range(args.scrapes):
                    started = time.perf_counter()
                    async with session.get(f"{base}/metrics") as r:
                        body = await r.read()
                    times.append((time.perf_counter() - started) * 1000)
                    size = len(body)
                for s in sockets:
                    s.close() if isinstance(s, aiohttp.ClientResponse) else await s.close()
                await asyncio.gather(*READERS, return_exceptions=True)
        except BaseException:
            sys.stderr.write((tmp / "server.log").read_text(errors="replace")[-4000:])
            raise
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    ordered = sorted(times)
    return {
        "bench": "metrics",
        "connections": args.ws + args.sse,
        "websockets": args.ws,
        "sse_readers": args.sse,
        "scrapes": args.scrapes,
        "median_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[math.ceil(0.95 * len(ordered)) - 1], 2),
        "max_ms": round(ordered[-1], 2),
        "body_bytes": size,
        "goal_ms": 50,
        "fd_limit": fd_limit,
        "cpus": os.cpu_count(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--ws", type=int, default=800, help="WebSockets to open (default 800)")
    p.add_argument("--sse", type=int, default=200, help="SSE readers to open (default 200)")
    p.add_argument("--scrapes", type=int, default=20, help="scrapes to time (default 20)")
    args = p.parse_args()
    if args.scrapes < 1 or args.ws < 0 or args.sse < 0:
        p.error("--scrapes must be at least 1, --ws and --sse at least 0")
    result = asyncio.run(run(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
