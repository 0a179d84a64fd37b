"""The HLS broadcast: transcode CPU, delay behind the room, 1,000 readers.

Three measurements (issue 16, "Figures"):

- ``transcode``: CPU of ``HlsTranscoder`` (confsvc/media/hls.py) on a 640x480 30 fps
  program (the site bots' VP8 pattern with film grain, ~1 Mbit/s, + Opus), per libx264
  preset: CPU seconds per second of program, in this process (100 % = one core). The
  program is fed as fast as the transcoder takes it, on the transcoder's own clock
  (as in tests/unit/test_media_hls.py), so the figure is the work of real time.
- ``delay``: ``confsvc serve --broadcast-dir`` in a child process; a site bot (another
  child) publishes video that carries its own clock (the time each frame was made, drawn
  as 32 black or white blocks and their complement), the host starts the run of show,
  and Chromium plays the public live page (hls.js and the native player). On every frame
  the page shows, it reads the stamp back from a canvas and takes it from its own
  ``Date.now()``: the broadcast's delay behind the room (same machine, same clock).
- ``readers``: the same server, broadcasting; N simulated readers (aiohttp, in child
  processes, one keep-alive connection each over asyncio streams) each fetch the playlist
  every target duration and every new segment, as hls.js does. Server CPU (the transcode included, so it is measured first with no
  reader) and the p50/p99 time from request to the last byte.

    python bench/broadcast.py                    # all three, about 3 minutes
    python bench/broadcast.py --only transcode
    python bench/broadcast.py --only readers --readers 1000 --seconds 20

The last line is one JSON object. ``BENCH_CHILD_STDERR=1`` lets the children's stderr
through (a reader prints the first response of each failing kind).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import operator
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from relay import cpu_seconds, free_port  # bench/relay.py

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "agenda" / "weifang-olsztyn-2020.yaml"
LOOP = ["127.0.0.1"]
BITS = 32
BLOCK = 640 // BITS  # 20 px per bit
ROWS = (180, 250)  # the stamp's band and its complement's, 50 px high each
BAND = 50


# -- transcode ---------------------------------------------------------------------------


def transcode(seconds: float, presets: list[str]) -> dict[str, Any]:
    from confsvc.media.hls import HlsSettings, HlsTranscoder
    from confsvc.media.pattern import program_packets

    packets = program_packets(seconds, noise=16)
    out: dict[str, Any] = {"program_s": seconds, "video_kbps_in": None}
    video_bytes = sum(len(p.data) for p in packets if p.kind == "video")
    out["video_kbps_in"] = round(video_bytes * 8 / seconds / 1000)
    for preset in presets:
        with tempfile.TemporaryDirectory() as tmp:
            now = [packets[0].arrival]  # the transcoder's clock moves with the packets
            clock = functools.partial(operator.getitem, now, 0)
            t = HlsTranscoder(HlsSettings(Path(tmp), preset=preset), clock=clock)
            c0 = time.process_time()
            for p in packets:
                now[0] = p.arrival
                t.push(p)
            t.close()
            cpu = time.process_time() - c0
            kbps = listed_kbps(Path(tmp))
        out[preset] = {"cpu_pct_of_core": round(100 * cpu / seconds, 1), "kbps_out": kbps}
        print(f"transcode {preset}: {out[preset]['cpu_pct_of_core']} % of a core", flush=True)
    return out


def listed_kbps(directory: Path) -> int:
    """Bits per second of the segments the playlist lists (H.264 + AAC + MPEG-TS)."""
    text = (directory / "index.m3u8").read_text()
    seconds = sum(float(d) for d in re.findall(r"#EXTINF:([0-9.]+),", text))
    names = [line for line in text.splitlines() if line.endswith(".ts")]
    octets = sum((directory / n).stat().st_size for n in names)
    return round(octets * 8 / seconds / 1000)


# -- a server that broadcasts --------------------------------------------------------------


class Server:
    """``confsvc serve`` with a broadcast directory, on the sample agenda with
    ``broadcast: true`` (loopback only)."""

    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.db = work / "broadcast.db"
        self.dir = work / "hls"
        agenda = work / "broadcast.yaml"
        text = re.sub(
            r"(\n  start: [^\n]+\n)", r"\1  broadcast: true\n", SAMPLE.read_text(), count=1
        )
        agenda.write_text(text)
        self.conference = "weifang-olsztyn-2020"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "confsvc", "serve", "--agenda", str(agenda), "--db",
             str(self.db), "--port", str(self.port), "--ice-address", "127.0.0.1",
             "--broadcast-dir", str(self.dir), "--log-level", "warning"],
            # Every reader here comes from 127.0.0.1: exempt it from the per-address cap on
            # anonymous connections (256), as a deployment exempts its proxy or CDN.
            env=dict(os.environ, CONFSVC_CONNECTION_CAP_EXEMPT="127.0.0.1"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.time() + 120  # a busy machine starts it slowly
        while True:
            try:
                urllib.request.urlopen(f"{self.base}/healthz", timeout=1)
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("confsvc serve did not start") from None
                time.sleep(0.2)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def playlist(self) -> Path:
        return self.dir / self.conference / "index.m3u8"

    def link(self, role: str, site: str | None = None) -> str:
        cmd = [sys.executable, "-m", "confsvc", "invite", "--db", str(self.db), "--role", role,
               "--port", str(self.port), "--json"]  # fmt: skip
        if site:
            cmd += ["--site", site]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        return str(json.loads(out)["url"])

    def wait_for_segments(self, n: int, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.playlist.exists() and self.playlist.read_text().count(".ts\n") >= n:
                return
            time.sleep(0.2)
        raise RuntimeError(f"no {n} segments in {self.playlist} after {timeout} s")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--child", *args], stdout=subprocess.PIPE,
        stderr=None if os.environ.get("BENCH_CHILD_STDERR") else subprocess.DEVNULL, text=True,
    )  # fmt: skip


def wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("ready"):
        raise RuntimeError(f"a child failed: {line!r}")


def end(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- the stamping publisher (a child process) ---------------------------------------------


def stamp_image(ms: int) -> Any:
    """640x480 grey, with ``ms`` (32 bits) as white/black blocks and the complement below."""
    import numpy as np

    img = np.full((480, 640, 3), 96, dtype=np.uint8)
    for i in range(BITS):
        bit = (ms >> (BITS - 1 - i)) & 1
        x = slice(i * BLOCK, (i + 1) * BLOCK)
        img[ROWS[0] : ROWS[0] + BAND, x] = 255 if bit else 0
        img[ROWS[1] : ROWS[1] + BAND, x] = 0 if bit else 255
    return img


async def child_publisher(site_link: str, host_link: str) -> None:
    from fractions import Fraction

    import av
    from aiortc import MediaStreamTrack, RTCPeerConnection

    from confsvc.media import pattern
    from confsvc.media.bot import BotBase, SiteBot, parse_link
    from confsvc.media.peer import codec_preferences, ice_configuration

    class StampTrack(MediaStreamTrack):
        """30 fps frames that carry the wall-clock millisecond they were made (aiortc
        encodes them: VP8, as a browser would)."""

        kind = "video"

        def __init__(self) -> None:
            super().__init__()
            self.n = 0
            self.t0 = time.monotonic()

        async def recv(self) -> av.VideoFrame:
            wait = self.t0 + self.n / 30 - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            ms = int(time.time() * 1000) % (1 << BITS)
            frame = av.VideoFrame.from_ndarray(stamp_image(ms), format="rgb24")
            frame.pts, frame.time_base = self.n * 3000, Fraction(1, 90000)
            self.n += 1
            return frame

    class StampBot(SiteBot):
        async def start(self, **_: Any) -> None:  # type: ignore[override]
            await self._open()
            self.pc = RTCPeerConnection(ice_configuration(self.config.get("ice_servers", [])))
            for track in (pattern.audio_track(440.0), StampTrack()):
                t = self.pc.addTransceiver(track, direction="sendonly")
                t.setCodecPreferences(codec_preferences(track.kind))
            await self._negotiate(True, [])

    bot = StampBot(parse_link(site_link), ice_addresses=LOOP)
    await bot.start()
    host = BotBase(parse_link(host_link))
    await host._open()
    assert host.ws is not None
    await host.ws.send_json({"type": "command", "id": 1, "name": "ros.start", "args": {}})
    print("ready", flush=True)
    await asyncio.Event().wait()  # until the bench terminates this process


# -- delay ---------------------------------------------------------------------------------

# Run in the page through the DevTools protocol (not under the page's CSP): on each frame
# shown, read the stamp back and keep Date.now() minus it; misread frames are counted.
MEASURE = f"""() => {{
  const v = document.querySelector('video'), c = document.createElement('canvas');
  c.width = 640; c.height = 480;
  const g = c.getContext('2d', {{ willReadFrequently: true }});
  const out = window.__delay = {{ ms: [], misread: 0 }};
  const read = (y) => {{
    const row = g.getImageData(0, y, 640, 1).data, bits = [];
    for (let i = 0; i < {BITS}; i++) bits.push(row[(i * {BLOCK} + {BLOCK // 2}) * 4 + 1] > 128 ? 1 : 0);
    return bits;
  }};
  const step = () => {{
    const now = Date.now();
    g.drawImage(v, 0, 0, 640, 480);
    const a = read({ROWS[0] + BAND // 2}), b = read({ROWS[1] + BAND // 2});
    if (a.every((x, i) => x !== b[i])) {{
      const ms = a.reduce((n, x) => n * 2 + x, 0);
      out.ms.push((now % 2 ** {BITS} - ms + 2 ** {BITS}) % 2 ** {BITS});
    }} else out.misread += 1;
    v.requestVideoFrameCallback(step);
  }};
  v.requestVideoFrameCallback(step);
}}"""


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


async def page_delay(server: Server, player: str, seconds: float) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium")
        try:
            page = await browser.new_page()
            await page.goto(f"{server.base}/c/{server.conference}/live?player={player}")
            await page.wait_for_selector('[data-broadcast][data-state="live"]', timeout=60_000)
            await asyncio.sleep(3)  # the player settles at its distance from the live edge
            await page.evaluate(MEASURE)
            await asyncio.sleep(seconds)
            got = await page.evaluate("() => window.__delay")
        finally:
            await browser.close()
    ms = got["ms"]
    return {
        "frames": len(ms),
        "misread": got["misread"],
        "p50_ms": round(pct(ms, 0.5)),
        "p95_ms": round(pct(ms, 0.95)),
        "min_ms": round(min(ms)) if ms else None,
    }


def delay(server: Server, seconds: float) -> dict[str, Any]:
    out = {}
    for player in ("hlsjs", "native"):
        out[player] = asyncio.run(page_delay(server, player, seconds))
        print(f"delay {player}: {out[player]}", flush=True)
    return out


# -- readers -------------------------------------------------------------------------------


async def child_readers(base: str, n: int, seconds: float) -> None:
    """``n`` readers of the playlist and its segments; prints every request's time (ms).

    Each reader holds one keep-alive HTTP/1.1 connection, as a browser's player does, and
    speaks it over asyncio streams: an HTTP client library costs the load generator more
    per request than the server's static serving, and on two cores the readers' own
    scheduling would then be most of the response times measured.
    """
    from urllib.parse import urlsplit

    url = urlsplit(base)
    host, port, prefix = url.hostname or "127.0.0.1", url.port or 80, url.path
    times: list[float] = []
    errors = 0
    kinds: dict[str, int] = {}
    skipped = [0]  # segments a reader left out to catch up with the live edge
    octets = 0
    stop = time.monotonic() + seconds

    class Conn:
        def __init__(self) -> None:
            self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

        async def get(self, name: str) -> tuple[int, bytes]:
            if self.streams is None:
                self.streams = await asyncio.open_connection(host, port)
            reader, writer = self.streams
            writer.write(f"GET {prefix}/{name} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            if b"connection: close" in head.lower():
                writer.close()
                self.streams = None
            return status, body

        def close(self) -> None:
            if self.streams is not None:
                self.streams[1].close()

    async def get(conn: Conn, name: str) -> bytes | None:
        nonlocal errors, octets
        t0 = time.perf_counter()
        try:
            status, body = await conn.get(name)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            conn.close()
            conn.streams = None
            errors += 1
            kinds[type(exc).__name__] = kinds.get(type(exc).__name__, 0) + 1
            return None
        times.append((time.perf_counter() - t0) * 1000)
        if status != 200:
            errors += 1
            kind = f"{status} {'playlist' if name.endswith('.m3u8') else 'segment'}"
            if kind not in kinds:
                sys.stderr.write(f"{kind} {name} {body[:120]!r}\n")
            kinds[kind] = kinds.get(kind, 0) + 1
            return None
        octets += len(body)
        return body

    async def reader(i: int) -> None:
        conn = Conn()
        seen: set[str] = set()
        await asyncio.sleep(i / n)  # spread the first requests over a second
        while time.monotonic() < stop:
            t0 = time.monotonic()
            body = await get(conn, "index.m3u8")
            names = [x for x in (body or b"").decode().splitlines() if x.endswith(".ts")]
            new = [x for x in names if x not in seen] if seen else names[-1:]
            if len(new) > 3:  # fallen behind: go to the live edge, as hls.js does
                skipped[0] += len(new) - 1
                new = new[-1:]
            seen.update(names)
            for name in new:
                await get(conn, name)
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
        conn.close()

    print("ready", flush=True)
    await asyncio.gather(*(reader(i) for i in range(n)))
    print(json.dumps({"times": [round(t, 2) for t in times], "errors": errors, "kinds": kinds,
                      "skipped": skipped[0], "octets": octets}))  # fmt: skip


def error_kinds(results: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in results:
        for kind, count in r["kinds"].items():
            out[kind] = out.get(kind, 0) + count
    return out


def readers(server: Server, n: int, seconds: float, procs: int) -> dict[str, Any]:
    pid = server.proc.pid
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds / 2)
    idle_pct = (cpu_seconds(pid) - c0) / (time.monotonic() - t0) * 100
    base = f"{server.base}/c/{server.conference}/broadcast"
    per = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
    children = [spawn("readers", base, str(k), str(seconds)) for k in per]
    for child in children:
        wait_ready(child)
    c0, t0 = cpu_seconds(pid), time.monotonic()
    results = []
    for child in children:
        assert child.stdout is not None
        results.append(json.loads(child.stdout.read().strip().splitlines()[-1]))
        child.wait()
    span = time.monotonic() - t0
    busy_cpu = cpu_seconds(pid) - c0
    busy_pct = busy_cpu / span * 100
    times = [t for r in results for t in r["times"]]
    # What the readers cost the server per request, the transcode taken out: a figure that
    # holds when a loaded machine (or the readers' own processes) slows the requests down.
    readers_cpu = busy_cpu - idle_pct / 100 * span
    out = {
        "readers": n,
        "seconds": round(span, 1),
        "requests_per_s": round(len(times) / span),
        "mbit_per_s": round(sum(r["octets"] for r in results) * 8 / span / 1e6, 1),
        "errors": sum(r["errors"] for r in results),
        "error_kinds": error_kinds(results),
        "segments_skipped_to_catch_up": sum(r["skipped"] for r in results),
        "p50_ms": round(pct(times, 0.5), 1),
        "p99_ms": round(pct(times, 0.99), 1),
        "server_cpu_pct_transcoding_alone": round(idle_pct, 1),
        "server_cpu_pct_with_readers": round(busy_pct, 1),
        "server_cpu_pct_for_readers": round(busy_pct - idle_pct, 1),
        "server_cpu_ms_per_request": round(readers_cpu * 1000 / max(1, len(times)), 3),
        "load_average": os.getloadavg()[0],
    }
    print(f"readers: {out}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--only", choices=["transcode", "delay", "readers"])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--readers", type=int, default=1000)
    ap.add_argument("--reader-procs", type=int, default=2)
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    opts = ap.parse_args()
    if opts.child:
        kind, *args = opts.child
        if kind == "publisher":
            asyncio.run(child_publisher(*args))
        elif kind == "readers":
            asyncio.run(child_readers(args[0], int(args[1]), float(args[2])))
        return
    out: dict[str, Any] = {"machine": f"{os.cpu_count()} cores, shared with other work"}
    if opts.only in (None, "transcode"):
        out["transcode"] = transcode(opts.seconds, ["ultrafast", "superfast", "veryfast"])
    if opts.only in (None, "delay", "readers"):
        with tempfile.TemporaryDirectory() as tmp:
            server = Server(Path(tmp))
            publisher = spawn("publisher", server.link("site", "warsaw"), server.link("host"))
            try:
                wait_ready(publisher)
                server.wait_for_segments(3)
                if opts.only in (None, "delay"):
                    out["delay"] = delay(server, opts.seconds / 2)
                if opts.only in (None, "readers"):
                    out["readers"] = readers(server, opts.readers, opts.seconds, opts.reader_procs)
            finally:
                end(publisher)
                server.stop()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
