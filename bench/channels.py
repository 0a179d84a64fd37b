"""Interpretation channels: server CPU per channel listener, and channel-switch time.

The server (``confsvc.http.app.create_app`` on 127.0.0.1, this process) runs an agenda
with channels pl and en; a child process holds two interpreters (aiortc, Opus 48 kHz
from a tone, each publishing audio only on an interpreter link and put on air with
``interp.take``) and N listeners (aiortc: one ``recvonly`` audio section offered with
``channel: true``, nothing else), each switched to ``pl`` with ``rtc.channel``.

- CPU per listener: the server process's CPU time over wall time (100 % = one core)
  for each N, and the least-squares slope over N.
- Switch time, server-side: for every listener, the child sends ``rtc.channel`` to the
  other channel K times; the relay's ``ChannelTrack.switch_ms`` is the time from the
  switch to the first packet sent from the new channel (it includes waiting for that
  channel's next 20 ms frame). Reported as median and p95 over all switches.

    python bench/channels.py              # N = 0, 8, 16, 32
    python bench/channels.py --ns 0,4 --seconds 5

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.unit.interpretation_agenda import TEXT  # noqa: E402  (the test agenda)

LOOP = ["127.0.0.1"]


# -- the child: interpreters and listeners --------------------------------------------


async def _hello(session: Any, ws_url: str, token: str) -> Any:
    ws = await session.ws_connect(ws_url)
    await ws.send_json({"type": "hello", "token": token})
    while (await ws.receive_json()).get("type") != "welcome":
        pass
    return ws


async def _reply(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        msg = await ws.receive_json(timeout=20)
        if msg.get("type") == kind:
            return dict(msg)
        if msg.get("type") == "error":
            raise RuntimeError(f"{kind}: {msg}")


async def _connect(ws: Any, pc: Any, *, publish: bool, channel: bool) -> None:
    from aiortc import RTCSessionDescription

    from confsvc.media import aiortc_internals as internals

    with internals.local_addresses(LOOP):
        await pc.setLocalDescription(await pc.createOffer())
    offer = {"type": "rtc.offer", "sdp": pc.localDescription.sdp, "publish": publish}
    await ws.send_json({**offer, "subscribe": [], "channel": channel})
    answer = await _reply(ws, "rtc.answer")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))


def _tone_track(hz: float) -> Any:
    import av
    import numpy as np
    from aiortc.mediastreams import AudioStreamTrack

    class Tone(AudioStreamTrack):
        def __init__(self) -> None:
            super().__init__()
            self.n = 0

        async def recv(self) -> Any:
            await asyncio.sleep(0.02)
            t = (np.arange(960) + self.n) / 48_000
            self.n += 960
            samples = (8000 * np.sin(2 * math.pi * hz * t)).astype("<i2").reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
            frame.sample_rate, frame.pts = 48_000, self.n
            frame.time_base = fractions.Fraction(1, 48_000)
            return frame

    return Tone()


async def child(base: str, tokens: dict[str, Any], n: int, seconds: float, switches: int) -> None:
    import aiohttp
    from aiortc import RTCConfiguration, RTCPeerConnection
    from aiortc.mediastreams import MediaStreamError

    conf = tokens["conference"]
    ws_url = f"{base}/c/{conf}/ws"
    async with aiohttp.ClientSession() as session:
        pcs = []
        for who, hz in (("pl", 440.0), ("en", 660.0)):
            ws = await _hello(session, ws_url, tokens[who])
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            pc.addTransceiver(_tone_track(hz), direction="sendonly")
            await _connect(ws, pc, publish=True, channel=False)
            await ws.send_json({"type": "command", "id": 1, "name": "interp.take", "args": {}})
            await _reply(ws, "ack")
            pcs.append((ws, pc))
        listeners = []
        drains: set[asyncio.Task[None]] = set()
        for i in range(n):
            ws = await _hello(session, ws_url, tokens["listeners"][i])
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            pc.addTransceiver("audio", direction="recvonly")
            got = [0]

            def on_track(track: Any, got: list[int] = got) -> None:
                async def drain() -> None:
                    with contextlib.suppress(MediaStreamError):
                        while True:
                            await track.recv()
                            got[0] += 1

                drains.add(asyncio.ensure_future(drain()))

            pc.on("track", on_track)
            await _connect(ws, pc, publish=False, channel=True)
            await ws.send_json({"type": "rtc.channel", "channel": "pl"})
            await _reply(ws, "rtc.channel")
            listeners.append((ws, pc, got))
        print(json.dumps({"ready": n}), flush=True)
        sys.stdin.readline()  # the server measures its CPU meanwhile
        for k in range(switches):
            for ws, _pc, _got in listeners:
                await ws.send_json({"type": "rtc.channel", "channel": "en" if k % 2 == 0 else "pl"})
                await _reply(ws, "rtc.channel")
            await asyncio.sleep(0.3)
        print(json.dumps({"frames": [g[0] for _, _, g in listeners]}), flush=True)
        sys.stdin.readline()
        for ws, pc, *_ in [*pcs, *listeners]:
            await pc.close()
            await ws.close()
        await asyncio.gather(*drains, return_exceptions=True)


# -- the server side ------------------------------------------------------------------


async def measure(n: int, seconds: float, switches: int, workdir: Path) -> dict[str, Any]:
    from aiohttp import web

    from confsvc.config import Config
    from confsvc.core.roles import Role, issue_invite
    from confsvc.http.app import create_app
    from confsvc.media.setup import RELAY

    agenda = workdir / "agenda.yaml"
    agenda.write_text(TEXT, encoding="utf-8")
    secret = os.urandom(32)
    cfg = Config(db=str(workdir / f"bench-{n}.db"), agendas=[agenda],
                 secret_file=workdir / "secret", ice_addresses=LOOP)  # fmt: skip
    app = create_app(cfg, secret=secret)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    conf = "weifang-olsztyn-2020"

    def token(role: Role, **kw: Any) -> str:
        return issue_invite(secret, conference=conf, role=role, now=time.time(), **kw)[1]

    tokens = {
        "conference": conf,
        "pl": token(Role.INTERPRETER, interpreter="pl-booth-1"),
        "en": token(Role.INTERPRETER, interpreter="en-booth-1"),
        # One link each: a link has a bounded number of media connections.
        "listeners": [token(Role.PARTICIPANT, name=f"listener {i}") for i in range(n)],
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--child", json.dumps(tokens), "--base",
        f"http://127.0.0.1:{port}", "--n", str(n), "--switches", str(switches),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stdin is not None
    try:
        await asyncio.wait_for(proc.stdout.readline(), 120)
        await asyncio.sleep(2.0)  # warm-up
        c0, t0 = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu = (time.process_time() - c0) / (time.monotonic() - t0) * 100
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
        done = json.loads(await asyncio.wait_for(proc.stdout.readline(), 120))
        room = app[RELAY].rooms[conf]
        switch = [ms for p in room.peers if p.channel is not None for ms in p.channel.switch_ms]
        proc.stdin.write(b"bye\n")
        await proc.stdin.drain()
        await asyncio.wait_for(proc.wait(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await runner.cleanup()
    return {"n": n, "cpu_pct": round(cpu, 2), "switch_ms": switch, "frames": done["frames"]}


def slope(rows: list[dict[str, Any]]) -> float:
    xs = [r["n"] for r in rows]
    ys = [r["cpu_pct"] for r in rows]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ns", default="0,8,16,32")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--switches", type=int, default=6)
    ap.add_argument("--child", default=None)
    ap.add_argument("--base", default="")
    ap.add_argument("--n", type=int, default=0)
    args = ap.parse_args()
    if args.child is not None:
        asyncio.run(child(args.base, json.loads(args.child), args.n, args.seconds, args.switches))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.ns.split(",")):
            row = asyncio.run(measure(n, args.seconds, args.switches, Path(tmp)))
            rows.append(row)
            print(f"N={n}: server {row['cpu_pct']} % of a core", file=sys.stderr)
    switch = sorted(ms for r in rows for ms in r["switch_ms"])
    out = {
        "cpu_pct": {str(r["n"]): r["cpu_pct"] for r in rows},
        "cpu_pct_per_channel_listener": round(slope([r for r in rows if r["n"] > 0] or rows), 3),
        "switches": len(switch),
        "switch_ms_median": round(statistics.median(switch), 2) if switch else None,
        "switch_ms_p95": round(switch[int(0.95 * (len(switch) - 1))], 2) if switch else None,
        "listeners_receiving": all(f > 0 for r in rows for f in r["frames"]),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
