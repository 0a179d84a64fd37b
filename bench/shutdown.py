"""SIGTERM to exit with WebSockets and SSE readers open (issue 10; goal: < 5 s, every
WebSocket closed with 1001).

    .venv/bin/python bench/shutdown.py [--ws 500] [--sse 1000] [--runs 1]

One ``confsvc serve`` process (SQLite, the sample agenda, a port of its own). This process
raises its file-descriptor limit (the server inherits it), opens ``--ws`` public
conference WebSockets (hello, welcome) and ``--sse`` public-page event streams (welcome
read) on loopback, sends SIGTERM and times until the process has exited. It counts the
close frames each WebSocket got (code and reason) and the streams that ended after the
``restarting`` message. The last line is one JSON object (seconds, counts).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "agenda" / "weifang-olsztyn-2020.yaml"
CONFERENCE = "weifang-olsztyn-2020"
BATCH = 50  # connections opened at once


def say(text: str) -> None:
    print(f"bench/shutdown.py: {text}", file=sys.stderr, flush=True)


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def spawn(cmd: list[str], log: Path, cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(cmd, stderr=out, stdout=out, cwd=cwd, env=env)


async def start_server(tmp: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    """``confsvc serve`` with its log in a file (a pipe left unread would fill up and
    block the server's logging) and the port it bound."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFSVC_")}
    log = tmp / "serve.log"
    argv = ["serve", "--agenda", str(SAMPLE), "--db", str(tmp / "confsvc.db"), "--port", "0"]
    # Every connection here is anonymous and from loopback: no per-address cap.
    argv += ["--max-anonymous-connections", "0"]
    proc = spawn([sys.executable, "-m", "confsvc", *argv], log, tmp, env)
    for _ in range(600):
        found = re.search(r"listening on 127\.0\.0\.1 port (\d+)", log.read_text("utf-8"))
        if found:
            say(f"server {proc.pid} listening on port {found.group(1)}")
            return proc, int(found.group(1)), log
        if proc.poll() is not None:
            raise SystemExit("confsvc serve exited before listening:\n" + log.read_text("utf-8"))
        await asyncio.sleep(0.1)
    proc.kill()
    raise SystemExit("confsvc serve did not listen within 60 s")


async def open_ws(session: aiohttp.ClientSession, base: str) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(f"{base}/c/{CONFERENCE}/ws", autoping=True)
    await ws.send_json({"type": "hello"})
    msg = await ws.receive_json(timeout=30)
    assert msg["type"] == "welcome", msg
    return ws


async def open_sse(session: aiohttp.ClientSession, base: str) -> aiohttp.ClientResponse:
    resp = await session.get(f"{base}/c/{CONFERENCE}/live/events")
    assert resp.status == 200, resp.status
    first = await resp.content.readuntil(b"\n\n")
    assert b'"type":"welcome"' in first
    return resp


async def ws_close(ws: aiohttp.ClientWebSocketResponse) -> str:
    async with asyncio.timeout(30):
        while True:
            msg = await ws.receive()
            if msg.type is aiohttp.WSMsgType.CLOSE:
                return f"{msg.data} {msg.extra}"
            if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                return "no close frame"


async def sse_end(resp: aiohttp.ClientResponse) -> str:
    try:
        async with asyncio.timeout(30):
            rest = await resp.content.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"error {type(exc).__name__}"
    return "restarting" if b'"type":"restarting"' in rest else "ended without restarting"


async def batched(make: Any, n: int) -> list[Any]:
    out: list[Any] = []
    while len(out) < n:
        out += await asyncio.gather(*(make() for _ in range(min(BATCH, n - len(out)))))
    return out


async def run_once(n_ws: int, n_sse: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="confsvc-shutdown-") as tmpdir:
        proc, port, log = await start_server(Path(tmpdir))
        base = f"http://127.0.0.1:{port}"
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            sockets = await batched(lambda: open_ws(session, base), n_ws)
            streams = await batched(lambda: open_sse(session, base), n_sse)
            say(f"{len(sockets)} WebSockets and {len(streams)} SSE readers open")
            ws_waits = [asyncio.ensure_future(ws_close(ws)) for ws in sockets]
            sse_waits = [asyncio.ensure_future(sse_end(r)) for r in streams]
            await asyncio.sleep(0.5)  # settled: every connection idle
            started = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(proc.wait, 60)
            elapsed = time.perf_counter() - started
            say(f"exited with {code} after {elapsed:.2f} s")
            ws_results = Counter(await asyncio.gather(*ws_waits))
            sse_results = Counter(await asyncio.gather(*sse_waits))
        text = log.read_text("utf-8")
        for line in text.splitlines():
            if re.search(r"stopping|shutdown:|stopped in", line):
                say(f"server log: {line}")
        said = re.search(r"stopped in ([\d.]+) s", text)
    return {
        "sigterm_to_exit_s": round(elapsed, 3),
        "server_cleanup_s": float(said.group(1)) if said else None,
        "exit_code": code,
        "websockets": n_ws,
        "closed_1001": ws_results.get("1001 server restarting", 0),
        "ws_close": dict(ws_results),
        "sse_readers": n_sse,
        "sse_ended_after_restarting": sse_results.get("restarting", 0),
        "sse_end": dict(sse_results),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ws", type=int, default=500)
    parser.add_argument("--sse", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    limit = raise_fd_limit()
    runs = [await run_once(args.ws, args.sse) for _ in range(args.runs)]
    for r in runs:
        print(json.dumps(r), file=sys.stderr)
    worst = max(runs, key=lambda r: r["sigterm_to_exit_s"])
    print(
        json.dumps(
            {
                "bench": "shutdown",
                "fd_limit": limit,
                "runs": len(runs),
                "websockets": args.ws,
                "sse_readers": args.sse,
                "sigterm_to_exit_s_max": worst["sigterm_to_exit_s"],
                "sigterm_to_exit_s": [r["sigterm_to_exit_s"] for r in runs],
                "server_cleanup_s": [r["server_cleanup_s"] for r in runs],
                "exit_codes": [r["exit_code"] for r in runs],
                "closed_1001_min": min(r["closed_1001"] for r in runs),
                "sse_ended_after_restarting_min": min(
                    r["sse_ended_after_restarting"] for r in runs
                ),
                "goal_s": 5.0,
                "goal_met": all(
                    r["sigterm_to_exit_s"] < 5.0
                    and r["exit_code"] == 0
                    and r["closed_1001"] == args.ws
                    for r in runs
                ),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
