"""Memory under anonymous requests for conferences that do not exist (issue 11, item 1).

    python bench/memory.py [--requests N] [--concurrency C]

Starts ``confsvc serve`` (SQLite, the sample agenda) in its own process on a free
loopback port, warms it up, reads its resident set size (VmRSS in /proc/<pid>/status),
then sends N requests without a token, each for a different conference id, spread over
every route that takes an id (state API, live page, WebSocket, report, SSE, photo,
upload). Half the ids fit the agenda's id format (64 characters: they reach the store),
half do not (500 characters: refused before any lookup). RSS is read again at the end.
Before the fix every id left a lock behind: 5,000 long ids added 35 MB. The last line is
one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import aiohttp
from serving import start_server, wait_ready

ROOT = Path(__file__).resolve().parent.parent
ROUTES = [
    ("GET", "/api/v1/conferences/{id}/state"),
    ("GET", "/c/{id}/live"),
    ("GET", "/c/{id}/ws"),
    ("GET", "/c/{id}/report"),
    ("GET", "/c/{id}/live/events"),
    ("GET", "/c/{id}/live/photos/p-1"),
    ("POST", "/c/{id}/posts"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise SystemExit(f"no VmRSS for pid {pid}")


def conference_id(n: int) -> str:
    if n % 2:
        return f"{n:012d}-" + "x" * 51  # 64 characters, the agenda's format: a store read
    return f"{n:012d}-" + "Y" * 487  # 500 characters, not an id: refused before lookup


async def hammer(base: str, first: int, count: int, concurrency: int) -> dict[int, int]:
    statuses: dict[int, int] = {}
    next_n = first
    end = first + count
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal next_n
            while next_n < end:
                n = next_n
                next_n += 1
                method, route = ROUTES[n % len(ROUTES)]
                url = base + route.format(id=conference_id(n))
                async with session.request(method, url) as resp:
                    await resp.read()
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


async def run(args: argparse.Namespace) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="confsvc-memory-"))
    port = free_port()
    proc = start_server(tmp, port)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(base, proc, "/healthz")
        await hammer(base, 0, args.warmup, args.concurrency)
        before = rss_kib(proc.pid)
        started = time.perf_counter()
        statuses = await hammer(base, args.warmup, args.requests, args.concurrency)
        seconds = time.perf_counter() - started
        after = rss_kib(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "rss_before_kib": before,
        "rss_after_kib": after,
        "growth_kib": after - before,
        "growth_bytes_per_request": round((after - before) * 1024 / args.requests, 2),
        "requests_per_s": round(args.requests / seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--warmup", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=32)
    result = asyncio.run(run(parser.parse_args()))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
