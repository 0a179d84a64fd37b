"""Smoke test of an installed confsvc (CI runs it with a fresh venv holding only the wheel).

From the current (empty) directory: start ``confsvc demo --bots`` on a free loopback port,
check that every printed link answers 200, that ``confsvc bot --json`` on the participant
link sees video frames from every site, and that the data files landed here. Only the
standard library is used, so nothing but the wheel's own dependencies is needed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urljoin


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fail(why: str, proc: subprocess.Popen[str] | None = None) -> None:
    print(f"smoke: FAIL: {why}", file=sys.stderr)
    if proc is not None:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        print(err[-4000:], file=sys.stderr)
    sys.exit(1)


def main() -> None:
    confsvc = str(Path(sys.executable).with_name("confsvc"))
    out = subprocess.run([confsvc, "--version"], capture_output=True, text=True, check=True)
    print(f"smoke: {out.stdout.strip()}")
    # The fan-out's C send path (confsvc/media/_wire.c) is built into the wheel where a
    # compiler is; without one the wheel still installs and the Python path is used.
    native = subprocess.run(
        [sys.executable, "-c", "from confsvc.media._wire import Sender, fan_out, send_rtp"],
        capture_output=True,
        text=True,
    )
    if native.returncode != 0 and shutil.which("cc"):
        fail(f"the wheel has no confsvc.media._wire: {native.stderr.strip()[-300:]}")
    print(f"smoke: C send path in the wheel: {'yes' if native.returncode == 0 else 'no'}")
    port = free_port()
    proc = subprocess.Popen(
        [confsvc, "demo", "--bots", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    links: dict[str, str] = {}
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            fail("confsvc demo ended before printing its links", proc)
        if line.startswith("Open the links"):
            break
        parts = line.split()
        if len(parts) == 2 and parts[1].startswith("http"):
            links[parts[0]] = parts[1]
    else:
        fail("no links within 60 s", proc)
    want = {"host", "moderator", "participant", "public"}
    if not want <= set(links) or not any(k.startswith("site:") for k in links):
        fail(f"links missing: printed {sorted(links)}", proc)
    assets: set[str] = set()
    try:
        for role, url in links.items():
            with urllib.request.urlopen(url, timeout=10) as response:
                body = response.read()
                if response.status != 200 or b"<html" not in body.lower():
                    fail(f"{role} {url}: {response.status}", proc)
            print(f"smoke: {role}: 200")
            for ref in sorted(set(re.findall(rb'(?:src|href)="(/[^"]*static/[^"]+)"', body))):
                asset = urljoin(url, ref.decode())
                with urllib.request.urlopen(asset, timeout=10) as response:
                    if response.status != 200 or not response.read():
                        fail(f"{asset}: {response.status}", proc)
                assets.add(asset)
        print(f"smoke: {len(assets)} static files referenced by the pages: 200")
        if not assets:
            fail("the pages reference no static file", proc)
        sites = sorted(k.split(":", 1)[1] for k in links if k.startswith("site:"))
        bot = subprocess.run(
            [confsvc, "bot", "--json", "--link", links["participant"], "--seconds", "6"],
            capture_output=True,
            text=True,
            timeout=90,
        )
        if bot.returncode != 0:
            fail(f"confsvc bot exited {bot.returncode}: {bot.stderr[-2000:]}", proc)
        result = json.loads(bot.stdout.strip().splitlines()[-1])
        frames = {s: result["sites"].get(s, {}).get("video_frames", 0) for s in sites}
        print(f"smoke: participant bot video frames per site: {frames}")
        if not all(n > 0 for n in frames.values()):
            fail(f"no frames from some site: {frames}", proc)
        for name in ("confsvc.db", "confsvc.secret"):
            if not Path(name).is_file():
                fail(f"{name} was not written in the working directory {os.getcwd()}", proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    print(f"smoke: ok (demo exited {proc.returncode})")


if __name__ == "__main__":
    main()
