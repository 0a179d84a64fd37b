"""A confsvc server process for the benchmarks that measure a real server from outside
(``memory.py``, ``metrics.py``): started on the sample agenda in its own directory,
waited for, and stopped by its PID by the caller."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "agenda" / "weifang-olsztyn-2020.yaml"


def start_server(tmp: Path, port: int, secret_file: Path | None = None) -> subprocess.Popen[bytes]:
    """``confsvc serve`` on the sample agenda, SQLite in ``tmp``, its stderr in
    ``tmp/server.log``; no ``CONFSVC_*`` variable of this shell reaches it."""
    secret = secret_file if secret_file is not None else tmp / "secret"
    cmd = [sys.executable, "-m", "confsvc", "serve", "--agenda", str(SAMPLE)]
    cmd += ["--db", str(tmp / "confsvc.db"), "--secret-file", str(secret)]
    cmd += ["--port", str(port), "--log-level", "warning"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFSVC_")}
    with open(tmp / "server.log", "wb") as log:  # the child keeps its own copy of the fd
        return subprocess.Popen(cmd, cwd=tmp, env=env, stderr=log)


async def wait_ready(base: str, proc: subprocess.Popen[bytes], path: str = "/readyz") -> None:
    """Until ``path`` answers 200 (bounded: 60 s); exits if the server dies first."""
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            if proc.poll() is not None:
                raise SystemExit(f"the server exited with {proc.returncode}")
            try:
                async with session.get(base + path) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"the server did not answer {path} in 60 s")
