"""Relay CPU per subscriber: the fan-out vs aiortc's own paths, in the same run.

One site (VP8 640x480 30 fps ~1 Mbit/s + Opus, a bot in its own process) to N subscriber
bots (aiortc, decrypting and depacketizing: another process) through ``confsvc serve``
(a third process, loopback only). For each N: server CPU (process CPU time / wall time;
100 % = one core) and every subscriber's video frame rate. CPU per subscriber is the
least-squares slope over N >= 1. Three relay modes are swept:

- ``passthrough``: confsvc's fan-out, each frame packetized once (the default);
- ``pack``: aiortc's ``RTCRtpSender`` re-packetizing per subscriber (the first design);
- ``reencode``: aiortc's ``MediaRelay``, decoding once and encoding per subscriber.

The last two live in ``bench/relay_modes.py``; the server is ``confsvc serve`` run by this
script's ``--child server``, which registers them first.

Then the scale run: 3 sites, each to 100 viewers of all three (300 forwarded video
streams plus the floor's audio), viewers counted from RTP headers (``LightViewerBot``)
so one process can be all of them; and Chromium's time to first frame.

Then, when ``janus`` is installed (skipped with the reason otherwise), the side-by-side
baseline (``bench/janus.py``): the same three site publishers (VP8 + Opus) into confsvc
and into Janus 1.1 VideoRoom (``event_loops = 2``), both up at once, and for each N the
same N full viewers (aiortc: they decrypt, depacketize and send receiver reports and
NACKs) of one site's video and audio, against confsvc and then against Janus. The
slopes of server CPU over N give ``confsvc_pct_per_viewer_vs_janus`` and
``janus_pct_per_viewer``, and their ratio ``confsvc_to_janus_ratio``; ``--rounds`` runs
the interleaved sweep several times (every point enters the slopes).

    python bench/relay.py                   # the full run, about 8 minutes
    python bench/relay.py --quick           # a smaller sweep, under a minute
    python bench/relay.py --only scale --scale 3x100
    python bench/relay.py --only janus --janus-ns 0,8,16,24 --rounds 2

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
AGENDA = ROOT / "agenda" / "weifang-olsztyn-2020.yaml"
LOOP = ["127.0.0.1"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_pct(pid: int, seconds: float) -> float:
    """Process ``pid``'s CPU use over the next ``seconds`` (100 = one core)."""
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - c0) / (time.monotonic() - t0) * 100


class Server:
    def __init__(self, mode: str, workdir: Path) -> None:
        self.mode = mode
        self.port = free_port()
        self.db = workdir / f"{mode}.db"
        env = dict(os.environ, CONFSVC_RELAY_MODE=mode)
        # `confsvc serve` in a child of this script, which registers the bench's modes first.
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--child", "server", "--agenda", str(AGENDA), "--db",
             str(self.db), "--port", str(self.port), "--ice-address", "127.0.0.1"],
            env=env, stdout=subprocess.DEVNULL, stderr=child_log("server"),
        )  # fmt: skip
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1)
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("confsvc serve did not start") from None
                time.sleep(0.2)

    def link(self, role: str, site: str | None = None) -> str:
        cmd = [sys.executable, "-m", "confsvc", "invite", "--db", str(self.db), "--role", role,
               "--port", str(self.port), "--json"]  # fmt: skip
        if site:
            cmd += ["--site", site]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        return str(json.loads(out)["url"])

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def child_log(kind: str) -> Any:
    """Where a child's stderr goes: ``$BENCH_LOGS/<kind>-<n>.err`` if set, else nowhere."""
    logs = os.environ.get("BENCH_LOGS")
    if not logs:
        return subprocess.DEVNULL
    return open(Path(logs) / f"{kind}-{time.monotonic_ns()}.err", "w")


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, *args], stdout=subprocess.PIPE, stderr=child_log(args[1]),
        text=True,
    )  # fmt: skip


# -- child processes ---------------------------------------------------------------------


async def child_publisher(link: str, host_link: str) -> None:
    from confsvc.media.bot import SiteBot, parse_link

    # One site link, or several (the scale run). Started together: each encodes its loop
    # first, and a connection made while the next site encodes (the loop starved on a
    # busy machine) lost ICE consent. Kept: one nothing refers to is collected.
    bots = [SiteBot(parse_link(one), ice_addresses=LOOP) for one in link.split(",")]
    await asyncio.gather(*(bot.start(kbps=1000, noise=6) for bot in bots))
    # The host starts the conference: item 1 gives Warsaw the floor, so audio flows too.
    from confsvc.media.bot import BotBase

    host = BotBase(parse_link(host_link))
    await host._open()
    assert host.ws is not None
    await host.ws.send_json({"type": "command", "id": 1, "name": "ros.start", "args": {}})
    print("ready", flush=True)
    await asyncio.Event().wait()  # until the bench terminates this process


async def child_viewers(link: str, n: int, warmup: float, seconds: float) -> None:
    from confsvc.media.bot import ViewerBot, parse_link

    links = link.split(",")  # one link per 8 viewers (the per-link connection limit)
    bots = [ViewerBot(parse_link(links[i // 8]), ice_addresses=LOOP) for i in range(n)]
    for i in range(0, n, 8):
        await asyncio.gather(*(b.start(sites=["warsaw"]) for b in bots[i : i + 8]))
    await report_viewers(bots, warmup, seconds)


async def child_janus_publisher(url: str, address: str) -> None:
    import aiohttp
    from janus import JanusSite  # bench/janus.py

    async with aiohttp.ClientSession() as http:
        sites = [JanusSite(http, (url, address), site, 330.0 + 110.0 * i)
                 for i, site in enumerate(["warsaw", "olsztyn", "weifang"])]  # fmt: skip
        await asyncio.gather(*(site.start(kbps=1000, noise=6) for site in sites))
        print(f"ready {sites[0].feed}", flush=True)
        await asyncio.Event().wait()  # until the bench terminates this process


async def child_janus_viewers(
    url: str, address: str, feed: int, n: int, warmup: float, seconds: float
) -> None:
    import aiohttp
    from janus import JanusViewer  # bench/janus.py

    async with aiohttp.ClientSession() as http:
        bots = [JanusViewer(http, (url, address), "warsaw", feed) for _ in range(n)]
        for i in range(0, n, 8):
            await asyncio.gather(*(b.start() for b in bots[i : i + 8]))
        await report_viewers(bots, warmup, seconds)


async def report_viewers(bots: list[Any], warmup: float, seconds: float) -> None:
    """Say ready, then print each viewer's frame rates of warsaw over ``seconds``."""
    print("ready", flush=True)
    await asyncio.sleep(warmup)
    before = [(b.counts["warsaw"].video_frames, b.counts["warsaw"].audio_frames) for b in bots]
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    span = time.monotonic() - t0
    fps = [
        round((b.counts["warsaw"].video_frames - v) / span, 1)
        for b, (v, _a) in zip(bots, before, strict=True)
    ]
    aps = [
        round((b.counts["warsaw"].audio_frames - a) / span, 1)
        for b, (_v, a) in zip(bots, before, strict=True)
    ]
    first = [b.counts["warsaw"].first_frame_ms for b in bots]
    print(json.dumps({"video_fps": fps, "audio_fps": aps, "first_frame_ms": first}), flush=True)
    await asyncio.gather(*(b.close() for b in bots), return_exceptions=True)


async def child_light_viewers(link: str, sites: str, n: int, warmup: float, seconds: float) -> None:
    from confsvc.media.bot import LightViewerBot, parse_link

    links = link.split(",")
    bots = [LightViewerBot(parse_link(links[i // 8]), ice_addresses=LOOP) for i in range(n)]
    for i in range(0, n, 8):
        await asyncio.gather(*(b.start(sites=sites.split(",")) for b in bots[i : i + 8]))
    print("ready", flush=True)
    await asyncio.sleep(warmup)
    c0, t0 = time.process_time(), time.monotonic()
    before = [{s: (c.video_frames, c.audio_frames) for s, c in b.counts.items()} for b in bots]
    lost0 = [{s: (await b.packets(s, "video"))[1] for s in b.counts} for b in bots]
    await asyncio.sleep(seconds)
    span = time.monotonic() - t0
    cpu = (time.process_time() - c0) / span * 100
    video: list[float] = []
    audio: dict[str, list[float]] = {}
    lost = 0
    for b, b0, l0 in zip(bots, before, lost0, strict=True):
        for s, c in b.counts.items():
            video.append(round((c.video_frames - b0[s][0]) / span, 1))
            audio.setdefault(s, []).append(round((c.audio_frames - b0[s][1]) / span, 1))
            lost += (await b.packets(s, "video"))[1] - l0[s]
    print(json.dumps({"video_fps": video, "audio_fps": audio, "video_lost": lost,
                      "viewer_process_cpu_pct": round(cpu, 1)}), flush=True)  # fmt: skip
    await asyncio.gather(*(b.close() for b in bots), return_exceptions=True)


# -- the sweep ---------------------------------------------------------------------------


def measure(
    pid: int, viewers_child: list[str], n: int, warmup: float, seconds: float
) -> dict[str, Any]:
    """Server ``pid``'s CPU with ``n`` viewers (``--child`` + ``viewers_child``) watching."""
    viewers = spawn("--child", *viewers_child, str(n), str(warmup), str(seconds)) if n else None
    if viewers is not None:
        assert viewers.stdout is not None
        if viewers.stdout.readline().strip() != "ready":
            viewers.kill()
            viewers.wait()
            raise RuntimeError(f"{n} viewers did not connect")
    time.sleep(warmup)
    cpu = cpu_pct(pid, seconds)
    row: dict[str, Any] = {"n": n, "server_cpu_pct": round(cpu, 1)}
    if viewers is not None:
        assert viewers.stdout is not None
        result = json.loads(viewers.stdout.readline())
        viewers.wait(30)
        row["worst_fps"] = min(result["video_fps"])
        row["worst_audio_fps"] = min(result["audio_fps"])
        firsts = [x for x in result["first_frame_ms"] if x is not None]
        row["first_frame_ms_max"] = max(firsts) if len(firsts) == n else None  # None: one saw none
    return row


def slope(rows: list[dict[str, Any]]) -> float:
    """Least-squares CPU per viewer over N >= 1 (N = 0 is the base: no slot is active)."""
    rows = [r for r in rows if r["n"] >= 1] if sum(r["n"] >= 1 for r in rows) >= 2 else rows
    xs = [r["n"] for r in rows]
    ys = [r["server_cpu_pct"] for r in rows]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def sweep(
    mode: str, ns: list[int], warmup: float, seconds: float, workdir: Path
) -> list[dict[str, Any]]:
    if not ns:
        return []
    server = Server(mode, workdir)
    publisher = spawn("--child", "publisher", server.link("site", "warsaw"), server.link("host"))
    rows = []
    try:
        assert publisher.stdout is not None
        if publisher.stdout.readline().strip() != "ready":
            raise RuntimeError("the publisher did not connect")
        links = [server.link("participant") for _ in range((max(ns) + 7) // 8)]
        link = ",".join(links)
        for n in ns:
            row = measure(server.proc.pid, ["viewers", link], n, warmup, seconds)
            rows.append(row)
            print(f"{mode:<11} N={n:>2}  server CPU {row['server_cpu_pct']:>6.1f} %  "
                  f"worst viewer {row.get('worst_fps', '-')} fps "
                  f"(audio {row.get('worst_audio_fps', '-')}/s)", flush=True)  # fmt: skip
    finally:
        publisher.terminate()
        publisher.wait(10)
        server.stop()
    return rows


def scale(sites: int, viewers: int, warmup: float, seconds: float, workdir: Path) -> dict[str, Any]:
    """``sites`` publishing sites and ``viewers`` viewers of all of them, on one server core.

    Viewers are ``LightViewerBot``s (media counted from RTP headers, no decryption) so
    that one process can act as all of them on the other core.
    """
    server = Server("passthrough", workdir)
    ids = ["warsaw", "olsztyn", "weifang"][:sites]
    site_links = ",".join(server.link("site", s) for s in ids)
    publisher = spawn("--child", "publisher", site_links, server.link("host"))
    try:
        assert publisher.stdout is not None
        if publisher.stdout.readline().strip() != "ready":
            raise RuntimeError("the publishers did not connect")
        time.sleep(warmup)
        base = cpu_pct(server.proc.pid, seconds)
        links = ",".join(server.link("participant") for _ in range((viewers + 7) // 8))
        proc = spawn(
            "--child", "light", links, ",".join(ids), str(viewers), str(warmup), str(seconds)
        )
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{viewers} viewers did not connect")
        time.sleep(warmup)
        cpu = cpu_pct(server.proc.pid, seconds)
        result = json.loads(proc.stdout.readline())
        proc.wait(60)
    finally:
        publisher.terminate()
        publisher.wait(10)
        server.stop()
    streams = sites * viewers
    row = {
        "sites": sites,
        "viewers": viewers,
        "server_cpu_pct": round(cpu, 1),
        "server_cpu_pct_publishers_only": round(base, 1),
        "pct_per_video_stream": round((cpu - base) / streams, 3),
        "worst_video_fps": min(result["video_fps"]),
        # Item 1 of the agenda gives Warsaw the floor: only its audio flows.
        "worst_floor_audio_fps": min(result["audio_fps"]["warsaw"]),
        "video_packets_lost": result["video_lost"],
        "viewer_process_cpu_pct": result["viewer_process_cpu_pct"],
    }
    print(f"scale: {sites} sites x {viewers} viewers: server CPU {row['server_cpu_pct']} % "
          f"({row['server_cpu_pct_publishers_only']} % with no viewer), "
          f"{row['pct_per_video_stream']} % per forwarded video stream, worst viewer "
          f"{row['worst_video_fps']} fps", flush=True)  # fmt: skip
    return row


def versus_janus(
    ns: list[int], rounds: int, warmup: float, seconds: float, workdir: Path
) -> dict[str, Any]:
    """confsvc and Janus side by side: the same publishers, the same full viewers, one run.

    Both servers run at once (each with its three site publishers); for each N, N full
    viewers watch warsaw on confsvc, then N on Janus, so that load from elsewhere on a
    shared machine falls on both alike. ``{"janus_skipped": reason}`` without Janus.
    """
    import janus  # bench/janus.py

    missing = janus.janus_missing()
    if missing is not None:
        print(f"janus baseline skipped: {missing}", flush=True)
        return {"janus_skipped": missing}
    server = Server("passthrough", workdir)
    jserver: janus.JanusServer | None = None
    procs: list[subprocess.Popen[str]] = []
    rows: dict[str, list[dict[str, Any]]] = {"confsvc": [], "janus": []}
    try:
        sites = ",".join(server.link("site", s) for s in ("warsaw", "olsztyn", "weifang"))
        procs.append(spawn("--child", "publisher", sites, server.link("host")))
        jserver = janus.JanusServer(workdir)
        procs.append(spawn("--child", "janus-publisher", jserver.url, jserver.address))
        said = []
        for proc in procs:
            assert proc.stdout is not None
            said.append(proc.stdout.readline().split())
            if not said[-1] or said[-1][0] != "ready":
                raise RuntimeError("the publishers did not connect")
        feed = said[1][1]  # Janus's publisher says "ready FEED": warsaw's feed id
        links = ",".join(server.link("participant") for _ in range((max(ns) + 7) // 8))
        sides = {
            "confsvc": (server.proc.pid, ["viewers", links]),
            "janus": (jserver.proc.pid, ["janus-viewers", jserver.url, jserver.address, feed]),
        }
        for _ in range(rounds):
            for n in ns:
                for name, (pid, child) in sides.items():
                    row = measure(pid, child, n, warmup, seconds)
                    rows[name].append(row)
                    print(f"{name:<8} N={n:>2}  server CPU {row['server_cpu_pct']:>6.1f} %  "
                          f"worst viewer {row.get('worst_fps', '-')} fps "
                          f"(audio {row.get('worst_audio_fps', '-')}/s)", flush=True)  # fmt: skip
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        if jserver is not None:
            jserver.stop()
        server.stop()
    ours, theirs = slope(rows["confsvc"]), slope(rows["janus"])
    # A slope only means something if every viewer got every frame: a starved viewer (or
    # a site whose connection was lost) makes less work for the server, not more.
    kept_up = all(r.get("worst_fps", 30) >= 29 for side in rows.values() for r in side)
    if not kept_up:
        print("side by side: some viewers fell behind: the slopes below are not valid", flush=True)
    return {
        "versus_viewers_kept_up": kept_up,
        "confsvc_pct_per_viewer_vs_janus": round(ours, 3),
        "janus_pct_per_viewer": round(theirs, 3),
        "confsvc_to_janus_ratio": round(ours / theirs, 2) if theirs > 0 else None,
        "janus_worst_viewer_fps": min(r["worst_fps"] for r in rows["janus"] if "worst_fps" in r),
        "confsvc_worst_viewer_fps": min(
            r["worst_fps"] for r in rows["confsvc"] if "worst_fps" in r
        ),
        "versus": rows,
    }


async def chromium_first_frame(workdir: Path) -> float | None:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        return None
    if not Path("/usr/bin/chromium").exists():
        return None
    server = Server("passthrough", workdir)
    publisher = spawn("--child", "publisher", server.link("site", "warsaw"), server.link("host"))
    try:
        assert publisher.stdout is not None
        publisher.stdout.readline()
        link = server.link("participant")
        async with async_playwright() as p:
            browser = await p.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--allow-loopback-in-peer-connection",
                      "--disable-features=WebRtcHideLocalIpsWithMdns"],
            )  # fmt: skip
            page = await browser.new_page()
            # "load" may wait on long-lived requests of other panels; the DOM is enough.
            await page.goto(link, wait_until="domcontentloaded")
            await page.wait_for_function(
                "window.confsvc && window.confsvc.media && window.confsvc.media.firstFrameMs.warsaw",
                timeout=20_000,
            )
            ms = await page.evaluate("window.confsvc.media.firstFrameSinceNavigationMs.warsaw")
            await browser.close()
            return float(ms)
    finally:
        publisher.terminate()
        publisher.wait(10)
        server.stop()


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        kind, args = sys.argv[2], sys.argv[3:]
        if kind == "server":
            import relay_modes  # bench/relay_modes.py: bench/ is this script's sys.path[0]

            from confsvc.cli.main import main as confsvc_main

            relay_modes.register()
            raise SystemExit(confsvc_main(["serve", *args]))
        if kind == "publisher":
            asyncio.run(child_publisher(args[0], args[1]))
        elif kind == "janus-publisher":
            asyncio.run(child_janus_publisher(args[0], args[1]))
        elif kind == "janus-viewers":
            asyncio.run(
                child_janus_viewers(args[0], args[1], int(args[2]), int(args[3]),
                                    float(args[4]), float(args[5]))
            )  # fmt: skip
        elif kind == "light":
            asyncio.run(
                child_light_viewers(args[0], args[1], int(args[2]), float(args[3]), float(args[4]))
            )
        else:
            asyncio.run(child_viewers(args[0], int(args[1]), float(args[2]), float(args[3])))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="a smaller sweep, under a minute")
    ap.add_argument("--no-browser", action="store_true", help="skip Chromium's first frame")
    ap.add_argument("--ns", help="passthrough sweep, e.g. 1,2,4,8,16,32 (overrides the default)")
    ap.add_argument(
        "--only",
        choices=["passthrough", "scale", "janus"],
        help="run only the passthrough sweep, the scale run, or the side-by-side with Janus",
    )
    ap.add_argument("--janus-ns", help="viewers in the side-by-side with Janus, e.g. 0,8,16,24")
    ap.add_argument(
        "--rounds", type=int, default=1, help="times the side-by-side sweep is run (default 1)"
    )
    ap.add_argument(
        "--scale", default=None, help="SITESxVIEWERS of the one-core run (default 3x100)"
    )
    opts = ap.parse_args()
    if opts.quick:
        pass_ns, pack_ns, re_ns, warmup, seconds = [0, 2, 8], [], [0, 1, 2], 1.0, 2.0
        sites, viewers, janus_ns = 3, 8, [0, 4, 8]
    else:
        pass_ns, pack_ns = [0, 1, 2, 4, 8, 16, 32], [0, 1, 2, 4, 8, 16, 32]
        re_ns, warmup, seconds = [0, 1, 2, 4, 8], 3.0, 10.0
        sites, viewers, janus_ns = 3, 100, [0, 4, 8, 16, 24]
    if opts.ns:
        pass_ns = [int(x) for x in opts.ns.split(",")]
    if opts.scale:
        sites, viewers = (int(x) for x in opts.scale.lower().split("x"))
    if opts.janus_ns:
        janus_ns = [int(x) for x in opts.janus_ns.split(",")]
    started = time.monotonic()
    out: dict[str, Any] = {"cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if opts.only in (None, "passthrough"):
            passthrough = sweep("passthrough", pass_ns, warmup, seconds, work)
            p_slope = slope(passthrough)
            out["passthrough_pct_per_viewer"] = round(p_slope, 3)
            out["worst_viewer_fps"] = min(r["worst_fps"] for r in passthrough if "worst_fps" in r)
        if opts.only is None:
            pack = sweep("pack", pack_ns, warmup, seconds, work)
            reencode = sweep("reencode", re_ns, warmup, seconds, work)
            r_slope = slope(reencode)
            out["reencode_pct_per_viewer"] = round(r_slope, 2)
            out["ratio"] = round(r_slope / p_slope, 1) if p_slope > 0 else None
            if pack:
                out["pack_pct_per_viewer"] = round(slope(pack), 3)
        if opts.only in (None, "scale"):
            out["scale"] = scale(sites, viewers, warmup, seconds, work)
        if opts.only in (None, "janus"):
            out.update(versus_janus(janus_ns, opts.rounds, warmup, seconds, work))
        if opts.only is None and not opts.no_browser:
            out["chromium_first_frame_ms"] = asyncio.run(chromium_first_frame(work))
    if "passthrough_pct_per_viewer" in out:
        print(f"passthrough (packetize once): {out['passthrough_pct_per_viewer']} % of a core "
              f"per viewer; worst viewer {out['worst_viewer_fps']} fps")  # fmt: skip
    if "reencode_pct_per_viewer" in out:
        print(f"re-encode (MediaRelay): {out['reencode_pct_per_viewer']} % per viewer: "
              f"{out['ratio']}x the passthrough; aiortc per-subscriber packetizing: "
              f"{out.get('pack_pct_per_viewer', '-')} %")  # fmt: skip
    if "chromium_first_frame_ms" in out:
        print(f"Chromium first frame: {out['chromium_first_frame_ms']} ms")
    if "janus_pct_per_viewer" in out:
        print(f"side by side: confsvc {out['confsvc_pct_per_viewer_vs_janus']} % of a core per "
              f"full viewer, Janus {out['janus_pct_per_viewer']} %: ratio "
              f"{out['confsvc_to_janus_ratio']} (goal <= 0.8)")  # fmt: skip
    print(f"{time.monotonic() - started:.0f} s")
    if "passthrough_pct_per_viewer" in out:
        out["passthrough"] = passthrough
    if opts.only is None:
        out["pack"], out["reencode"] = pack, reencode
    print(json.dumps(out))


if __name__ == "__main__":
    main()
